using System.Collections.Concurrent;
using Sluice.Bench.Clients;

namespace Sluice.Bench.Measurement;

/// <summary>
/// Collects what one measurement window observed, from many request tasks at once: client latencies, the server's
/// per-request phase timings when it sends them, and failures by status.
/// </summary>
public sealed class WindowRecorder
{
    /// <summary>Client-observed latency (send to last response byte) of successful requests.</summary>
    public LatencyHistogram Client { get; } = new();

    /// <summary>Client-side latency of failed requests (how long a client waited to learn of the failure), in microseconds.</summary>
    public LatencyHistogram ErrorLatency { get; } = new();

    /// <summary>Server-reported queue time of successful requests (Sluice timing headers / trailers).</summary>
    public LatencyHistogram Queue { get; } = new();

    /// <summary>Server-reported compute input + infer + output.</summary>
    public LatencyHistogram Compute { get; } = new();

    /// <summary>Server-reported compute infer (the runtime's execution).</summary>
    public LatencyHistogram ComputeInfer { get; } = new();

    /// <summary>Failed requests by status.</summary>
    public ConcurrentDictionary<string, long> Errors { get; } = new(StringComparer.Ordinal);

    /// <summary>Successful requests.</summary>
    public long Successes => Interlocked.Read(ref _successes);

    /// <summary>Requests sent (open loop) or started (closed loop).</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Open loop: sends that left more than <see cref="LoadGenerator.LateThreshold"/> after their scheduled time.</summary>
    public long LateSends => Interlocked.Read(ref _lateSends);

    /// <summary>Open loop: sends skipped because too many requests were already in flight.</summary>
    public long DroppedSends => Interlocked.Read(ref _droppedSends);

    private long _successes;
    private long _sent;
    private long _lateSends;
    private long _droppedSends;

    /// <summary>Counts a request as sent.</summary>
    public void CountSent() => Interlocked.Increment(ref _sent);

    /// <summary>Counts a late send.</summary>
    public void CountLate() => Interlocked.Increment(ref _lateSends);

    /// <summary>Counts a skipped send.</summary>
    public void CountDropped() => Interlocked.Increment(ref _droppedSends);

    /// <summary>Records one finished request.</summary>
    public void Record(in InferOutcome outcome, long latencyUs)
    {
        if (!outcome.Success)
        {
            Errors.AddOrUpdate(outcome.Status, 1, static (_, n) => n + 1);
            ErrorLatency.Record(latencyUs);
            return;
        }

        Interlocked.Increment(ref _successes);
        Client.Record(latencyUs);
        if (outcome.Timing is { } timing)
        {
            Queue.Record(timing.QueueUs);
            Compute.Record(timing.ComputeUs);
            ComputeInfer.Record(timing.ComputeInferUs);
        }
    }

    /// <summary>Adds everything <paramref name="other"/> recorded (merging the trials of a step).</summary>
    public void Add(WindowRecorder other)
    {
        ArgumentNullException.ThrowIfNull(other);
        Client.Add(other.Client);
        ErrorLatency.Add(other.ErrorLatency);
        Queue.Add(other.Queue);
        Compute.Add(other.Compute);
        ComputeInfer.Add(other.ComputeInfer);
        foreach (var (status, count) in other.Errors)
        {
            Errors.AddOrUpdate(status, count, (_, n) => n + count);
        }

        Interlocked.Add(ref _successes, other.Successes);
        Interlocked.Add(ref _sent, other.Sent);
        Interlocked.Add(ref _lateSends, other.LateSends);
        Interlocked.Add(ref _droppedSends, other.DroppedSends);
    }
}
