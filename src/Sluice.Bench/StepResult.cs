using Sluice.Bench.Load;
using Sluice.Bench.Measurement;
using Sluice.Bench.Slo;

namespace Sluice.Bench;

/// <summary>What one load level measured: the merged stable trials, with the server's own view of the same windows.</summary>
public sealed class StepResult
{
    /// <summary>The load level.</summary>
    public required LoadLevel Level { get; init; }

    /// <summary>The merged recordings of the trials reported (the last up to three).</summary>
    public required WindowRecorder Recorder { get; init; }

    /// <summary>Sum of the reported trials' lengths (first send to last response).</summary>
    public required TimeSpan Elapsed { get; init; }

    /// <summary>Trials run in all, including those not reported.</summary>
    public required int Trials { get; init; }

    /// <summary>True when throughput and p99 of the reported trials varied within the stability percentage (or only one trial was asked for).</summary>
    public required bool Stable { get; init; }

    /// <summary>Inferences one request carries (its batch size).</summary>
    public required int InferencesPerRequest { get; init; }

    /// <summary>The server's statistics over the reported trials (deltas), or null when the target has none.</summary>
    public ServerStatistics? Server { get; init; }

    /// <summary>SLO attainment at this step, when an SLO spec was given.</summary>
    public IReadOnlyList<SloAttainment> Slo { get; set; } = [];

    /// <summary>True when every judged SLO held (or none was judged).</summary>
    public bool SloMet => Slo.All(s => s.Met);

    /// <summary>Successful requests per second.</summary>
    public double RequestsPerSecond => Elapsed > TimeSpan.Zero ? Recorder.Successes / Elapsed.TotalSeconds : 0;

    /// <summary>Successful inferences per second (requests × batch size).</summary>
    public double InferencesPerSecond => RequestsPerSecond * InferencesPerRequest;

    /// <summary>Requests sent per second (open loop: the offered load actually achieved by the generator).</summary>
    public double SentPerSecond => Elapsed > TimeSpan.Zero ? Recorder.Sent / Elapsed.TotalSeconds : 0;

    /// <summary>Failed requests.</summary>
    public long Failures => Recorder.Errors.Values.Sum();

    /// <summary>Client latency at a percentile, in milliseconds.</summary>
    public double LatencyMs(double percentile) => Recorder.Client.Percentile(percentile) / 1000.0;

    /// <summary>Client latency of failed requests at a percentile, in milliseconds (0 when none failed).</summary>
    public double ErrorLatencyMs(double percentile) => Recorder.ErrorLatency.Percentile(percentile) / 1000.0;

    /// <summary>Largest client latency, in milliseconds.</summary>
    public double MaxLatencyMs => Recorder.Client.Max / 1000.0;
}
