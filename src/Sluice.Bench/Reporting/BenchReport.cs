using Sluice.Bench.Calibration;

namespace Sluice.Bench.Reporting;

/// <summary>Everything one <c>sluice bench</c> run found, for the console table and the report files.</summary>
public sealed record BenchReport
{
    /// <summary>The target (URL, or the model file for in-process).</summary>
    public required string Target { get; init; }

    /// <summary>The protocol used.</summary>
    public required string Protocol { get; init; }

    /// <summary>The model benchmarked.</summary>
    public required string Model { get; init; }

    /// <summary>What was run: <c>sweep</c>, <c>calibrate</c> or <c>goodput</c>.</summary>
    public required string Mode { get; init; }

    /// <summary>Every step measured, in order.</summary>
    public required IReadOnlyList<StepResult> Steps { get; init; }

    /// <summary>The calibration, when <c>--calibrate</c> ran.</summary>
    public CalibrationRecord? Calibration { get; init; }

    /// <summary>Goodput in requests/s, when a goodput search ran.</summary>
    public double? GoodputRequestsPerSecond { get; init; }

    /// <summary>The same workload on a bare in-process session, when <c>--in-process</c> was given.</summary>
    public IReadOnlyList<StepResult>? InProcessSteps { get; init; }

    /// <summary>SLOs of the model that a load test does not judge.</summary>
    public IReadOnlyList<string> SlosNotJudged { get; init; } = [];

    /// <summary>Server overhead per step: in-process throughput / server throughput, and server p50 / in-process p50.</summary>
    public IReadOnlyList<(double Level, double ThroughputRatio, double LatencyRatio)> Overhead =>
        InProcessSteps is null
            ? []
            : Steps.Zip(InProcessSteps).Select(p => (p.First.Level.Value,
                p.First.InferencesPerSecond > 0 ? p.Second.InferencesPerSecond / p.First.InferencesPerSecond : double.NaN,
                p.Second.LatencyMs(50) > 0 ? p.First.LatencyMs(50) / p.Second.LatencyMs(50) : double.NaN)).ToArray();
}
