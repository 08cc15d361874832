using Sluice.Bench.Clients;
using Sluice.Bench.Load;
using Sluice.Bench.Measurement;
using Sluice.Bench.Slo;

namespace Sluice.Bench;

/// <summary>How each step of a run is measured.</summary>
public sealed record BenchSettings
{
    /// <summary>The model benchmarked.</summary>
    public required string Model { get; init; }

    /// <summary>The version, or null for the server's choice.</summary>
    public string? Version { get; init; }

    /// <summary>One measurement window.</summary>
    public MeasurementWindow Window { get; init; } = MeasurementWindow.For(TimeSpan.FromSeconds(5));

    /// <summary>Load run before each step's first window and not measured.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>perf_analyzer's stability rule: the last three windows' throughput and p99 each within this percentage of their mean.</summary>
    public double StabilityPercentage { get; init; } = 10;

    /// <summary>The most windows per step; 1 turns the stability rule off.</summary>
    public int MaxTrials { get; init; } = 10;

    /// <summary>Inferences each request carries (for inferences/s).</summary>
    public int InferencesPerRequest { get; init; } = 1;

    /// <summary>The most requests an open loop keeps in flight before it drops sends.</summary>
    public int MaxInFlight { get; init; } = 16_384;
}

/// <summary>Progress of a run, for live display.</summary>
/// <param name="Level">The step running.</param>
/// <param name="StepIndex">0-based index of the step, when known.</param>
/// <param name="StepCount">Steps planned, or null while searching.</param>
/// <param name="Phase"><c>warmup</c>, <c>trial N</c>, or <c>done</c>.</param>
/// <param name="Result">The finished step, with phase <c>done</c>.</param>
public sealed record BenchProgress(LoadLevel Level, int StepIndex, int? StepCount, string Phase, StepResult? Result);

/// <summary>
/// Runs load steps against a target: warm-up, then measurement windows repeated until stable (perf_analyzer's rule), each
/// window bracketed by statistics snapshots so the server's own counts and phase times cover exactly the same requests.
/// </summary>
public sealed class BenchRunner(IInferClient client, IModelControl? control, BenchSettings settings, IProgress<BenchProgress>? progress = null)
{
    private readonly LoadGenerator _generator = new(client) { MaxInFlight = settings.MaxInFlight };

    /// <summary>The settings every step uses.</summary>
    public BenchSettings Settings => settings;

    /// <summary>Optional SLO judge applied to every step.</summary>
    public SloJudge? Judge { get; init; }

    /// <summary>Runs every level in order.</summary>
    public async Task<IReadOnlyList<StepResult>> RunSweepAsync(IReadOnlyList<LoadLevel> levels, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(levels);
        var steps = new List<StepResult>(levels.Count);
        for (int i = 0; i < levels.Count && !cancellationToken.IsCancellationRequested; i++)
        {
            steps.Add(await RunStepAsync(levels[i], i, levels.Count, cancellationToken).ConfigureAwait(false));
        }

        return steps;
    }

    /// <summary>Runs one level: warm-up, then windows until stable or <see cref="BenchSettings.MaxTrials"/>.</summary>
    public async Task<StepResult> RunStepAsync(LoadLevel level, int stepIndex, int? stepCount, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(level);
        if (settings.Warmup > TimeSpan.Zero)
        {
            progress?.Report(new BenchProgress(level, stepIndex, stepCount, "warmup", null));
            await _generator.RunAsync(level, MeasurementWindow.For(settings.Warmup), cancellationToken).ConfigureAwait(false);
        }

        var trials = new List<(WindowMeasurement Window, ServerStatistics? Server)>();
        bool stable = settings.MaxTrials <= 1;
        for (int trial = 1; trial <= Math.Max(1, settings.MaxTrials); trial++)
        {
            progress?.Report(new BenchProgress(level, stepIndex, stepCount, $"trial {trial}", null));
            var before = await SnapshotAsync(cancellationToken).ConfigureAwait(false);
            var window = await _generator.RunAsync(level, settings.Window, cancellationToken).ConfigureAwait(false);
            var after = await SnapshotAsync(cancellationToken).ConfigureAwait(false);
            trials.Add((window, before is not null && after is not null ? after.Minus(before) : null));
            if (settings.MaxTrials > 1 && trials.Count >= 3 && IsStable(trials.TakeLast(3).Select(t => t.Window).ToArray(), settings.StabilityPercentage))
            {
                stable = true;
                break;
            }

            if (cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }

        var reported = trials.TakeLast(Math.Min(3, trials.Count)).ToArray();
        var merged = new WindowRecorder();
        ServerStatistics? server = ServerStatistics.Zero;
        var elapsed = TimeSpan.Zero;
        foreach (var (window, delta) in reported)
        {
            merged.Add(window.Recorder);
            elapsed += window.Elapsed;
            server = server is not null && delta is not null ? server.Plus(delta) : null;
        }

        var step = new StepResult
        {
            Level = level, Recorder = merged, Elapsed = elapsed, Trials = trials.Count, Stable = stable,
            InferencesPerRequest = settings.InferencesPerRequest, Server = server,
        };
        if (Judge is not null)
        {
            step.Slo = Judge.Judge(step);
        }

        progress?.Report(new BenchProgress(level, stepIndex, stepCount, "done", step));
        return step;
    }

    private async Task<ServerStatistics?> SnapshotAsync(CancellationToken cancellationToken)
    {
        if (control is null)
        {
            return null;
        }

        try
        {
            return await control.GetStatisticsAsync(settings.Model, settings.Version, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is HttpRequestException or InvalidDataException or System.Text.Json.JsonException or Grpc.Core.RpcException)
        {
            return null;   // a target without (usable) statistics: the report says "no server data"
        }
    }

    /// <summary>perf_analyzer's rule: throughput and p99 of each window within <paramref name="percentage"/>% of their mean.</summary>
    public static bool IsStable(IReadOnlyList<WindowMeasurement> windows, double percentage)
    {
        ArgumentNullException.ThrowIfNull(windows);
        var throughput = windows.Select(w => w.Elapsed > TimeSpan.Zero ? w.Recorder.Successes / w.Elapsed.TotalSeconds : 0).ToArray();
        var p99 = windows.Select(w => (double)w.Recorder.Client.Percentile(99)).ToArray();
        return Within(throughput, percentage) && Within(p99, percentage);

        static bool Within(double[] values, double percentage)
        {
            var mean = values.Average();
            return mean > 0 && values.All(v => Math.Abs(v - mean) <= mean * percentage / 100);
        }
    }

    /// <summary>
    /// Saturating closed-loop sweep over <paramref name="concurrencies"/>. Every level runs (dynamic batching can lift
    /// throughput late in the sweep, after flat steps), except that the sweep stops at the first step where requests
    /// failed: the server is past saturation (queue full, timeouts). The peak is the best step without failures.
    /// </summary>
    public async Task<CalibrationResult> CalibrateAsync(IReadOnlyList<int> concurrencies, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(concurrencies);
        var steps = new List<StepResult>();
        for (int i = 0; i < concurrencies.Count && !cancellationToken.IsCancellationRequested; i++)
        {
            var step = await RunStepAsync(LoadLevel.Closed(concurrencies[i]), i, concurrencies.Count, cancellationToken).ConfigureAwait(false);
            steps.Add(step);
            if (step.Failures > 0)
            {
                break;
            }
        }

        var peak = steps.Where(s => s.Failures == 0).MaxBy(s => s.InferencesPerSecond)
            ?? throw new BenchException("calibration measured no step without failures");
        return new CalibrationResult(steps, peak);
    }

    /// <summary>
    /// Goodput: the highest open-loop request rate at which every latency SLO of <see cref="Judge"/> holds. Doubles the rate
    /// from <paramref name="startRate"/> until a step fails (or halves it while the start fails, down to <paramref name="minRate"/>), then bisects between the
    /// last passing and first failing rate until they are within <paramref name="precision"/> of each other.
    /// </summary>
    /// <param name="minRate">The lowest rate tried: below it a window holds too few requests to judge an objective.</param>
    public async Task<GoodputResult> FindGoodputAsync(double startRate, ArrivalPattern arrival, double precision, double maxRate, double minRate, CancellationToken cancellationToken)
    {
        if (Judge is null)
        {
            throw new InvalidOperationException("Goodput needs an SLO judge.");
        }

        var steps = new List<StepResult>();
        int index = 0;
        async Task<StepResult> At(double rate)
        {
            var step = await RunStepAsync(LoadLevel.Open(rate, arrival), index++, null, cancellationToken).ConfigureAwait(false);
            steps.Add(step);
            return step;
        }

        StepResult? pass = null;
        double? failRate = null;
        double rate = startRate;

        // :: Exponential phase: find a passing rate and a failing one.
        var first = await At(rate).ConfigureAwait(false);
        if (first.SloMet)
        {
            pass = first;
            while (!cancellationToken.IsCancellationRequested && rate * 2 <= maxRate)
            {
                rate *= 2;
                var step = await At(rate).ConfigureAwait(false);
                if (!step.SloMet)
                {
                    failRate = rate;
                    break;
                }

                pass = step;
            }
        }
        else
        {
            failRate = rate;
            while (!cancellationToken.IsCancellationRequested && rate / 2 >= minRate)
            {
                rate /= 2;
                var step = await At(rate).ConfigureAwait(false);
                if (step.SloMet)
                {
                    pass = step;
                    break;
                }

                failRate = rate;
            }
        }

        // :: Binary phase between the last pass and the first failure.
        while (pass is not null && failRate is { } high && !cancellationToken.IsCancellationRequested &&
               (high - pass.Level.Rate!.Value) / pass.Level.Rate.Value > precision)
        {
            var mid = (high + pass.Level.Rate.Value) / 2;
            var step = await At(Math.Round(mid, 3)).ConfigureAwait(false);
            if (step.SloMet)
            {
                pass = step;
            }
            else
            {
                failRate = mid;
            }
        }

        return new GoodputResult(steps, pass);
    }
}

/// <summary>A calibration: every step measured, and the best one.</summary>
public sealed record CalibrationResult(IReadOnlyList<StepResult> Steps, StepResult Peak);

/// <summary>A goodput search: every step measured, and the highest rate at which the SLOs held (null when none did).</summary>
public sealed record GoodputResult(IReadOnlyList<StepResult> Steps, StepResult? Best)
{
    /// <summary>Goodput in requests per second (the rate at which the SLOs still held), or 0.</summary>
    public double RequestsPerSecond => Best?.Level.Rate ?? 0;
}
