using System.Diagnostics;
using Sluice.Bench.Clients;
using Sluice.Bench.Measurement;

namespace Sluice.Bench.Load;

/// <summary>What one window produced: the recordings, and how long it took from its first send to its last response.</summary>
public sealed record WindowMeasurement(WindowRecorder Recorder, TimeSpan Elapsed);

/// <summary>
/// Drives a client at one load level for one window.
/// <list type="bullet">
/// <item>Closed loop: <c>concurrency</c> tasks, each sending its next request when its last one returned.</item>
/// <item>Open loop: one scheduler task sends by the clock (evenly spaced or Poisson), never waiting on responses, so queueing
/// at the server shows as latency instead of slowing the senders (no coordinated omission). Sends that leave late are
/// counted; when <see cref="MaxInFlight"/> requests are outstanding, further sends are skipped and counted as dropped.</item>
/// </list>
/// Latency is measured from the moment a request is handed to the client to the last byte of its response.
/// </summary>
public sealed class LoadGenerator(IInferClient client)
{
    /// <summary>A send this much after its scheduled time counts as late.</summary>
    public static readonly TimeSpan LateThreshold = TimeSpan.FromMilliseconds(2);

    /// <summary>The most requests an open loop keeps outstanding before it drops sends.</summary>
    public int MaxInFlight { get; init; } = 16_384;

    /// <summary>Seed of the Poisson gaps, so runs are repeatable.</summary>
    public int Seed { get; init; } = 7;

    /// <summary>Runs one window at <paramref name="level"/>; every request sent is awaited before this returns.</summary>
    public Task<WindowMeasurement> RunAsync(LoadLevel level, MeasurementWindow window, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(level);
        ArgumentNullException.ThrowIfNull(window);
        return level.IsOpenLoop
            ? RunOpenAsync(level.Rate!.Value, level.Arrival, window, cancellationToken)
            : RunClosedAsync(level.Concurrency ?? 1, window, cancellationToken);
    }

    private async Task<WindowMeasurement> RunClosedAsync(int concurrency, MeasurementWindow window, CancellationToken cancellationToken)
    {
        var recorder = new WindowRecorder();
        long start = Stopwatch.GetTimestamp();
        long deadline = window.Duration is { } d ? start + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        long remaining = window.Requests ?? long.MaxValue;

        async Task WorkerAsync()
        {
            await Task.Yield();
            while (!cancellationToken.IsCancellationRequested)
            {
                if (Stopwatch.GetTimestamp() >= deadline || Interlocked.Decrement(ref remaining) < 0)
                {
                    return;
                }

                recorder.CountSent();
                long sent = Stopwatch.GetTimestamp();
                var outcome = await client.InferAsync(cancellationToken).ConfigureAwait(false);
                recorder.Record(outcome, ElapsedUs(sent));
            }
        }

        var workers = new Task[concurrency];
        for (int i = 0; i < concurrency; i++)
        {
            workers[i] = WorkerAsync();
        }

        await Task.WhenAll(workers).ConfigureAwait(false);
        return new WindowMeasurement(recorder, Stopwatch.GetElapsedTime(start));
    }

    private async Task<WindowMeasurement> RunOpenAsync(double rate, ArrivalPattern arrival, MeasurementWindow window, CancellationToken cancellationToken)
    {
        var recorder = new WindowRecorder();
        var random = new Random(Seed);
        long start = Stopwatch.GetTimestamp();
        long deadline = window.Duration is { } d ? start + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        long count = window.Requests ?? long.MaxValue;
        long lateTicks = (long)(LateThreshold.TotalSeconds * Stopwatch.Frequency);
        double offsetSeconds = 0;
        int inFlight = 0;
        long lastCompletion = start;
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int pending = 1;   // the scheduler itself holds one count until it stops sending

        async Task SendAsync()
        {
            long sent = Stopwatch.GetTimestamp();
            try
            {
                var outcome = await client.InferAsync(cancellationToken).ConfigureAwait(false);
                recorder.Record(outcome, ElapsedUs(sent));
            }
            finally
            {
                Interlocked.Exchange(ref lastCompletion, Math.Max(Interlocked.Read(ref lastCompletion), Stopwatch.GetTimestamp()));
                Interlocked.Decrement(ref inFlight);
                if (Interlocked.Decrement(ref pending) == 0)
                {
                    allDone.TrySetResult();
                }
            }
        }

        for (long i = 0; i < count && !cancellationToken.IsCancellationRequested; i++)
        {
            // Constant arrivals from the index (no accumulated rounding: exactly rate × duration sends); Poisson from summed gaps.
            long due = start + (long)((arrival == ArrivalPattern.Poisson ? offsetSeconds : i / rate) * Stopwatch.Frequency);
            if (due >= deadline)
            {
                break;
            }

            if (arrival == ArrivalPattern.Poisson)
            {
                offsetSeconds += -Math.Log(1 - random.NextDouble()) / rate;
            }

            await WaitUntilAsync(due, cancellationToken).ConfigureAwait(false);
            if (Stopwatch.GetTimestamp() - due > lateTicks)
            {
                recorder.CountLate();
            }

            if (Volatile.Read(ref inFlight) >= MaxInFlight)
            {
                recorder.CountDropped();
                continue;
            }

            recorder.CountSent();
            Interlocked.Increment(ref inFlight);
            Interlocked.Increment(ref pending);
            _ = SendAsync();
        }

        if (Interlocked.Decrement(ref pending) == 0)
        {
            allDone.TrySetResult();
        }

        await allDone.Task.ConfigureAwait(false);
        // A time-based window lasts at least its duration: a rate is requests over the time they were offered in, even when
        // the last response came early (one request at 0.2/s is 0.2/s, not one over its own latency).
        var elapsed = Stopwatch.GetElapsedTime(start, Interlocked.Read(ref lastCompletion));
        return new WindowMeasurement(recorder, window.Duration is { } length && length > elapsed ? length : elapsed);
    }

    /// <summary>Sleeps most of the gap, then yields until the due tick: timers alone are ~1 ms coarse.</summary>
    private static async ValueTask WaitUntilAsync(long due, CancellationToken cancellationToken)
    {
        long remaining = due - Stopwatch.GetTimestamp();
        if (remaining <= 0)
        {
            return;
        }

        var remainingTime = TimeSpan.FromSeconds((double)remaining / Stopwatch.Frequency);
        if (remainingTime > TimeSpan.FromMilliseconds(2))
        {
            try
            {
                await Task.Delay(remainingTime - TimeSpan.FromMilliseconds(1.5), cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        while (Stopwatch.GetTimestamp() < due)
        {
            Thread.Yield();
        }
    }

    private static long ElapsedUs(long since) => (long)Stopwatch.GetElapsedTime(since).TotalMicroseconds;
}
