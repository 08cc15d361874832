namespace Sluice.Server.Telemetry;

/// <summary>
/// Histogram bucket boundaries for latencies, in seconds. Always holds every latency threshold an SLO names, so a latency SLI
/// computed from the histogram (<c>le="threshold"</c> bucket / count) is exact rather than interpolated.
/// </summary>
public static class LatencyBuckets
{
    /// <summary>The default boundaries: 100 µs to 10 s, roughly 1-2.5-5 per decade, including 0.05 s.</summary>
    public static IReadOnlyList<double> Defaults { get; } =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>
    /// The defaults of the LLM histograms (<see cref="GenerationMetrics"/>): <see cref="Defaults"/> and a long tail to 640 s,
    /// since a whole generation (end-to-end, decode time) runs for seconds to minutes, while a token takes well under 100 ms.
    /// </summary>
    public static IReadOnlyList<double> GenerationDefaults { get; } = [.. Defaults, 20, 40, 80, 160, 320, 640];

    /// <summary>The defaults, the configured extras and the SLO thresholds, sorted and without duplicates.</summary>
    public static double[] Build(IEnumerable<double> configured, IEnumerable<TimeSpan> sloThresholds) =>
        Build(Defaults, configured, sloThresholds);

    /// <summary>The LLM histograms' boundaries: <see cref="GenerationDefaults"/>, the configured extras and every ttft and itl
    /// SLO threshold, sorted and without duplicates.</summary>
    public static double[] BuildGeneration(IEnumerable<double> configured, IEnumerable<TimeSpan> sloThresholds) =>
        Build(GenerationDefaults, configured, sloThresholds);

    private static double[] Build(IEnumerable<double> defaults, IEnumerable<double> configured, IEnumerable<TimeSpan> sloThresholds)
    {
        var all = new SortedSet<double>(defaults);
        foreach (var bound in configured)
        {
            all.Add(bound);
        }

        foreach (var threshold in sloThresholds)
        {
            all.Add(threshold.TotalSeconds);
        }

        return [.. all];
    }
}
