using System.Globalization;
using Spectre.Console;

namespace Sluice.Bench.Reporting;

/// <summary>The terminal side of a run: live progress while steps run, then the results table.</summary>
public static class ConsoleReport
{
    /// <summary>
    /// Runs <paramref name="body"/> with live progress: a Spectre.Console progress display on an interactive terminal,
    /// one line per finished step otherwise (CI logs).
    /// </summary>
    public static async Task<T> WithProgressAsync<T>(IAnsiConsole console, string title, Func<IProgress<BenchProgress>, Task<T>> body)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(body);
        if (!console.Profile.Capabilities.Interactive)
        {
            return await body(new LineProgress(console, title)).ConfigureAwait(false);
        }

        T result = default!;
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(title));
                result = await body(new LiveProgress(task)).ConfigureAwait(false);
                task.Value = task.MaxValue;
                task.StopTask();
            }).ConfigureAwait(false);
        return result;
    }

    /// <summary>Reports progress on a Spectre progress task; synchronous, so updates are never reordered.</summary>
    private sealed class LiveProgress(ProgressTask task) : IProgress<BenchProgress>
    {
        public void Report(BenchProgress value)
        {
            if (value.StepCount is { } count)
            {
                task.MaxValue = count;
            }
            else
            {
                task.IsIndeterminate = value.Phase != "done";
            }

            task.Description = Markup.Escape($"{value.Level} · {value.Phase}");
            if (value.Phase == "done")
            {
                task.Value = value.StepIndex + 1;
            }
        }
    }

    private sealed class LineProgress(IAnsiConsole console, string title) : IProgress<BenchProgress>
    {
        public void Report(BenchProgress value)
        {
            if (value.Result is { } step)
            {
                var slo = step.Slo.Count > 0 ? (step.SloMet ? " · SLOs met" : " · SLOs missed") : "";
                console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"{title}: {value.Level}: {step.InferencesPerSecond:0.#} infer/s, p99 {step.LatencyMs(99):0.##} ms, {step.Failures} failed{slo}")));
            }
        }
    }

    /// <summary>Writes the results table, then calibration, goodput and overhead lines.</summary>
    public static void Write(IAnsiConsole console, BenchReport report)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(report);
        console.Write(StepTable($"{report.Model} via {report.Protocol} ({report.Target})", report.Steps));
        if (report.InProcessSteps is { } inProcess)
        {
            console.Write(StepTable($"{report.Model} in-process (bare session, no server)", inProcess));
            foreach (var (level, throughputRatio, latencyRatio) in report.Overhead)
            {
                console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                    $"server overhead at {LoadDescription(report, level)}: in-process/server throughput {throughputRatio:0.00}x, server/in-process p50 {latencyRatio:0.00}x")));
            }
        }

        if (report.Calibration is { } calibration)
        {
            console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"peak: {calibration.PeakInferencesPerSecond:0.#} inferences/s at concurrency {calibration.ConcurrencyAtPeak} (batch {calibration.BatchSize}, hardware {calibration.Hardware})")));
        }

        if (report.GoodputRequestsPerSecond is { } goodput)
        {
            console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"goodput: {goodput:0.##} requests/s (highest rate at which every latency SLO held)")));
        }

        if (report.SlosNotJudged.Count > 0)
        {
            console.MarkupLine(Markup.Escape($"not judged by a load test: {string.Join(", ", report.SlosNotJudged)}"));
        }
    }

    private static string LoadDescription(BenchReport report, double level) =>
        report.Steps.FirstOrDefault(s => s.Level.Value == level)?.Level.ToString() ?? level.ToString(CultureInfo.InvariantCulture);

    private static Table StepTable(string title, IReadOnlyList<StepResult> steps)
    {
        var table = new Table().Title(Markup.Escape(title)).Border(TableBorder.Rounded);
        foreach (var column in (string[])["load", "infer/s", "req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "server queue/in/infer/out ms", "SLO"])
        {
            table.AddColumn(new TableColumn(Markup.Escape(column)).RightAligned());
        }

        foreach (var step in steps)
        {
            var errors = step.Recorder.Errors.IsEmpty
                ? "0"
                : string.Join(" ", step.Recorder.Errors.OrderBy(e => e.Key).Select(e => $"{e.Key}:{e.Value}"))
                  + string.Create(CultureInfo.InvariantCulture, $" (p50 {step.ErrorLatencyMs(50):0.#} ms)");
            if (step.Recorder.DroppedSends > 0)
            {
                errors += $" dropped:{step.Recorder.DroppedSends}";
            }

            var server = step.Server is { Success.Count: > 0 } s
                ? string.Create(CultureInfo.InvariantCulture, $"{s.Queue.MeanUs / 1000:0.##}/{s.ComputeInput.MeanUs / 1000:0.##}/{s.ComputeInfer.MeanUs / 1000:0.##}/{s.ComputeOutput.MeanUs / 1000:0.##}")
                : "-";
            var slo = step.Slo.Count == 0
                ? "-"
                : string.Join(" ", step.Slo.Select(a => string.Create(CultureInfo.InvariantCulture,
                    $"{a.Name}:{(double.IsNaN(a.Attainment) ? "mean" : (a.Attainment * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%")}{(a.Met ? "✓" : "✗")}")));
            var load = step.Level.ToString() + (step.Stable ? "" : " (unstable)");
            table.AddRow(new[]
            {
                load, F(step.InferencesPerSecond, "0.#"), F(step.RequestsPerSecond, "0.#"), F(step.LatencyMs(50)), F(step.LatencyMs(90)),
                F(step.LatencyMs(95)), F(step.LatencyMs(99)), F(step.LatencyMs(99.9)), F(step.MaxLatencyMs), errors, server, slo,
            }.Select(Markup.Escape).ToArray());
        }

        return table;
    }

    private static string F(double value, string format = "0.##") => value.ToString(format, CultureInfo.InvariantCulture);
}
