using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Sluice.Bench.Reporting;

/// <summary>Writes a run's results as CSV (one row per step), JSON (everything) and plots, into one folder.</summary>
public static class ReportWriter
{
    /// <summary>The percentiles every report shows.</summary>
    public static readonly double[] Percentiles = [50, 90, 95, 99, 99.9];

    /// <summary>Writes <c>bench.csv</c>, <c>bench.json</c> and the plots (PNG and SVG) into <paramref name="directory"/>.</summary>
    /// <returns>The files written.</returns>
    public static IReadOnlyList<string> Write(BenchReport report, string directory)
    {
        ArgumentNullException.ThrowIfNull(report);
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        var csv = Path.Combine(directory, "bench.csv");
        File.WriteAllText(csv, ToCsv(report));
        files.Add(csv);
        var json = Path.Combine(directory, "bench.json");
        File.WriteAllText(json, ToJson(report));
        files.Add(json);
        files.AddRange(PlotWriter.Write(report, directory));
        return files;
    }

    /// <summary>One header row, then one row per step (in-process steps after the server's, marked by their protocol).</summary>
    public static string ToCsv(BenchReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var builder = new StringBuilder();
        builder.Append("protocol,mode,concurrency,rate,arrival,trials,stable,successes,failures,late_sends,dropped_sends,elapsed_s,")
            .Append("requests_per_s,inferences_per_s,sent_per_s,p50_ms,p90_ms,p95_ms,p99_ms,p99_9_ms,max_ms,mean_ms,")
            .Append("server_success,server_avg_batch,server_queue_us,server_compute_input_us,server_compute_infer_us,server_compute_output_us,slo_met,")
            .Append("failure_p50_ms,failure_p99_ms\n");
        foreach (var (step, protocol) in report.Steps.Select(s => (s, report.Protocol))
                     .Concat((report.InProcessSteps ?? []).Select(s => (s, "in-process"))))
        {
            var server = step.Server;
            var cells = new object?[]
            {
                protocol, step.Level.IsOpenLoop ? "open" : "closed", step.Level.Concurrency, step.Level.Rate,
                step.Level.IsOpenLoop ? step.Level.Arrival.ToString().ToLowerInvariant() : null,
                step.Trials, step.Stable, step.Recorder.Successes, step.Failures, step.Recorder.LateSends, step.Recorder.DroppedSends,
                step.Elapsed.TotalSeconds, step.RequestsPerSecond, step.InferencesPerSecond, step.SentPerSecond,
                step.LatencyMs(50), step.LatencyMs(90), step.LatencyMs(95), step.LatencyMs(99), step.LatencyMs(99.9), step.MaxLatencyMs,
                step.Recorder.Client.Mean / 1000,
                server?.Success.Count, server?.AverageBatchSize, server?.Queue.MeanUs, server?.ComputeInput.MeanUs,
                server?.ComputeInfer.MeanUs, server?.ComputeOutput.MeanUs, step.Slo.Count > 0 ? step.SloMet : null,
                step.Failures > 0 ? step.ErrorLatencyMs(50) : null, step.Failures > 0 ? step.ErrorLatencyMs(99) : null,
            };
            builder.AppendJoin(',', cells.Select(Cell)).Append('\n');
        }

        return builder.ToString();
    }

    private static string Cell(object? value) => value switch
    {
        null => "",
        double d => double.IsFinite(d) ? d.ToString("0.###", CultureInfo.InvariantCulture) : "",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString()!.Contains(',', StringComparison.Ordinal) ? $"\"{value}\"" : value.ToString()!,
    };

    /// <summary>The whole report as JSON (snake_case).</summary>
    public static string ToJson(BenchReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("target", report.Target);
            w.WriteString("protocol", report.Protocol);
            w.WriteString("model", report.Model);
            w.WriteString("mode", report.Mode);
            if (report.GoodputRequestsPerSecond is { } goodput)
            {
                w.WriteNumber("goodput_requests_per_second", Math.Round(goodput, 3));
            }

            if (report.Calibration is { } calibration)
            {
                w.WritePropertyName("calibration");
                using var document = JsonDocument.Parse(calibration.ToJson());
                document.WriteTo(w);
            }

            w.WriteStartArray("slos_not_judged");
            foreach (var name in report.SlosNotJudged)
            {
                w.WriteStringValue(name);
            }

            w.WriteEndArray();
            WriteSteps(w, "steps", report.Steps);
            if (report.InProcessSteps is { } inProcess)
            {
                WriteSteps(w, "in_process_steps", inProcess);
                w.WriteStartArray("server_overhead");
                foreach (var (level, throughputRatio, latencyRatio) in report.Overhead)
                {
                    w.WriteStartObject();
                    w.WriteNumber("level", level);
                    WriteNumber(w, "in_process_to_server_throughput_ratio", throughputRatio);
                    WriteNumber(w, "server_to_in_process_p50_ratio", latencyRatio);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>One number per <see cref="Percentiles"/> entry, named p50, p90, p95, p99, p99_9.</summary>
    private static void WritePercentiles(Utf8JsonWriter w, Func<double, double> atPercentile)
    {
        foreach (var p in Percentiles)
        {
            WriteNumber(w, "p" + p.ToString("0.#", CultureInfo.InvariantCulture).Replace('.', '_'), atPercentile(p));
        }
    }

    private static void WriteSteps(Utf8JsonWriter w, string name, IReadOnlyList<StepResult> steps)
    {
        w.WriteStartArray(name);
        foreach (var step in steps)
        {
            w.WriteStartObject();
            w.WriteString("mode", step.Level.IsOpenLoop ? "open" : "closed");
            if (step.Level.Concurrency is { } c)
            {
                w.WriteNumber("concurrency", c);
            }

            if (step.Level.Rate is { } r)
            {
                w.WriteNumber("rate", r);
                w.WriteString("arrival", step.Level.Arrival.ToString().ToLowerInvariant());
            }

            w.WriteNumber("trials", step.Trials);
            w.WriteBoolean("stable", step.Stable);
            w.WriteNumber("successes", step.Recorder.Successes);
            w.WriteNumber("sent", step.Recorder.Sent);
            w.WriteNumber("late_sends", step.Recorder.LateSends);
            w.WriteNumber("dropped_sends", step.Recorder.DroppedSends);
            w.WriteStartObject("errors");
            foreach (var (status, count) in step.Recorder.Errors.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                w.WriteNumber(status, count);
            }

            w.WriteEndObject();
            if (step.Failures > 0)
            {
                w.WriteStartObject("failure_latency_ms");
                WritePercentiles(w, step.ErrorLatencyMs);
                w.WriteEndObject();
            }

            WriteNumber(w, "elapsed_seconds", step.Elapsed.TotalSeconds);
            WriteNumber(w, "requests_per_second", step.RequestsPerSecond);
            WriteNumber(w, "inferences_per_second", step.InferencesPerSecond);
            w.WriteStartObject("latency_ms");
            WritePercentiles(w, step.LatencyMs);

            WriteNumber(w, "max", step.MaxLatencyMs);
            WriteNumber(w, "mean", step.Recorder.Client.Mean / 1000);
            w.WriteEndObject();
            if (step.Recorder.Compute.Count > 0)
            {
                w.WriteStartObject("server_timing_p99_us");
                w.WriteNumber("queue", step.Recorder.Queue.Percentile(99));
                w.WriteNumber("compute", step.Recorder.Compute.Percentile(99));
                w.WriteNumber("compute_infer", step.Recorder.ComputeInfer.Percentile(99));
                w.WriteEndObject();
            }

            if (step.Server is { } s)
            {
                w.WriteStartObject("server");
                w.WriteNumber("success_count", s.Success.Count);
                w.WriteNumber("fail_count", s.Fail.Count);
                w.WriteNumber("inference_count", s.InferenceCount);
                w.WriteNumber("execution_count", s.ExecutionCount);
                WriteNumber(w, "average_batch_size", s.AverageBatchSize);
                WriteNumber(w, "queue_us", s.Queue.MeanUs);
                WriteNumber(w, "compute_input_us", s.ComputeInput.MeanUs);
                WriteNumber(w, "compute_infer_us", s.ComputeInfer.MeanUs);
                WriteNumber(w, "compute_output_us", s.ComputeOutput.MeanUs);
                w.WriteEndObject();
            }

            if (step.Slo.Count > 0)
            {
                w.WriteBoolean("slo_met", step.SloMet);
                w.WriteStartArray("slo");
                foreach (var slo in step.Slo)
                {
                    w.WriteStartObject();
                    w.WriteString("name", slo.Name);
                    w.WriteString("phase", Phase(slo.Phase));
                    WriteNumber(w, "threshold_ms", slo.Threshold.TotalMilliseconds);
                    WriteNumber(w, "objective", slo.Objective);
                    WriteNumber(w, "attainment", slo.Attainment);
                    w.WriteString("source", slo.Source);
                    w.WriteBoolean("met", slo.Met);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    /// <summary>The spec's name of a phase.</summary>
    public static string Phase(Sluice.Slo.Spec.LatencyPhase phase) => phase switch
    {
        Sluice.Slo.Spec.LatencyPhase.EndToEnd => "end_to_end",
        Sluice.Slo.Spec.LatencyPhase.Queue => "queue",
        Sluice.Slo.Spec.LatencyPhase.Compute => "compute",
        _ => "compute_infer",
    };

    private static void WriteNumber(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value))
        {
            w.WriteNumber(name, Math.Round(value, 4));
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
