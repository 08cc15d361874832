using Sluice.Core.Configuration;

namespace Sluice.Engine.Scheduling;

/// <summary>What <see cref="BatchFormer"/> decided: run <see cref="Take"/> rows now, or wait <see cref="WaitBeforeRetry"/> for more.</summary>
/// <param name="Take">Batch rows to take now; 0 to wait.</param>
/// <param name="WaitBeforeRetry">When not running: how long until the decision may change (the delay runs out); infinite when nothing is queued.</param>
internal readonly record struct BatchDecision(int Take, TimeSpan WaitBeforeRetry)
{
    /// <summary>True when a batch should run now.</summary>
    public bool RunNow => Take > 0;

    public static BatchDecision Run(int take) => new(take, TimeSpan.Zero);

    public static BatchDecision Wait(TimeSpan wait) => new(0, wait);
}

/// <summary>
/// Decides whether queued requests run now or wait for a fuller batch, as Triton's dynamic batcher does. Pure: no clock, lock
/// or I/O; the caller passes the queue's state in.
/// </summary>
/// <remarks>
/// <list type="number">
/// <item>Nothing queued: wait (indefinitely, for an arrival).</item>
/// <item>At least max_batch_size rows queued: run max_batch_size.</item>
/// <item>At least one preferred size reached: run the largest preferred size that can be formed.</item>
/// <item>The oldest request waited max_queue_delay (or the flush flag is set, when stopping): run what is queued.</item>
/// <item>Fewer than <see cref="MinExpectedArrivalsToWait"/> further arrivals are expected in the rest of the delay, at the
/// observed arrival rate: run what is queued. Waiting could only add latency (a lone client at concurrency 1 never has a
/// companion coming); max_queue_delay is a bound, and Triton's semantics allow running before it.</item>
/// <item>Otherwise: wait for the rest of the delay.</item>
/// </list>
/// </remarks>
internal sealed class BatchFormer
{
    /// <summary>Largest batch, in rows.</summary>
    private readonly int _maxBatchSize;

    /// <summary>Preferred sizes, largest first, each ≤ <see cref="_maxBatchSize"/>.</summary>
    private readonly int[] _preferredDescending;

    /// <summary>Longest the oldest request waits for a fuller batch.</summary>
    private readonly TimeSpan _maxQueueDelay;

    public BatchFormer(int maxBatchSize, DynamicBatchingConfig batching)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatchSize, 1);
        ArgumentNullException.ThrowIfNull(batching);
        _maxBatchSize = maxBatchSize;
        _preferredDescending = batching.PreferredBatchSizes.Where(s => s >= 1 && s <= maxBatchSize).Distinct().OrderDescending().ToArray();
        _maxQueueDelay = batching.MaxQueueDelay < TimeSpan.Zero ? TimeSpan.Zero : batching.MaxQueueDelay;
    }

    /// <summary>Largest batch, in rows.</summary>
    public int MaxBatchSize => _maxBatchSize;

    /// <summary>Decides for a queue of <paramref name="queuedRows"/> rows whose oldest request has waited <paramref name="oldestWait"/>.</summary>
    /// <param name="flush">Run whatever is queued without waiting (the loop is stopping).</param>
    /// <param name="arrivalsPerSecond">The observed arrival rate (rows per second); positive infinity always waits out the delay.</param>
    public BatchDecision Decide(int queuedRows, TimeSpan oldestWait, bool flush = false, double arrivalsPerSecond = double.PositiveInfinity)
    {
        if (queuedRows <= 0)
        {
            return BatchDecision.Wait(Timeout.InfiniteTimeSpan);
        }

        if (queuedRows >= _maxBatchSize)
        {
            return BatchDecision.Run(_maxBatchSize);
        }

        foreach (var preferred in _preferredDescending)
        {
            if (queuedRows >= preferred)
            {
                return BatchDecision.Run(preferred);
            }
        }

        if (flush || oldestWait >= _maxQueueDelay)
        {
            return BatchDecision.Run(queuedRows);
        }

        var remaining = _maxQueueDelay - oldestWait;
        if (arrivalsPerSecond * remaining.TotalSeconds < MinExpectedArrivalsToWait)
        {
            return BatchDecision.Run(queuedRows);
        }

        return BatchDecision.Wait(remaining);
    }

    /// <summary>
    /// Waiting for a fuller batch pays only when at least this many more rows are expected to arrive before the delay runs
    /// out; below it, the queue runs at once.
    /// </summary>
    public const double MinExpectedArrivalsToWait = 0.5;
}
