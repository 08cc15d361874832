namespace Sluice.Engine.Configuration;

/// <summary>
/// The defaults a model gets for what its configuration leaves out. Every queue is bounded: a model without a
/// <c>default_queue_policy</c> (or with Triton's "unbounded" 0) gets <see cref="MaxQueueSize"/> and <see cref="QueueTimeout"/>.
/// </summary>
public static class ModelConfigDefaults
{
    /// <summary>
    /// The max_batch_size auto-completion picks when a model has no config (or none says max_batch_size) and every input and
    /// output has a dynamic first dimension, as Triton's auto-complete does; dynamic batching is then on with the defaults below.
    /// Otherwise auto-completion picks 0 (no batching).
    /// </summary>
    public const int AutoCompleteMaxBatchSize = 32;

    /// <summary>Most requests waiting in one model version's queue: 1024. More get <c>QueueFull</c> (HTTP 503 with Retry-After).</summary>
    public const int MaxQueueSize = 1024;

    /// <summary>Longest a request waits in the queue before <c>QueueTimeout</c> (HTTP 503): 5 seconds, in microseconds as configs write it.</summary>
    public const long QueueTimeoutMicroseconds = 5_000_000;

    /// <summary>The default batching delay: 1 millisecond, in microseconds as configs write it.</summary>
    public const long MaxQueueDelayMicroseconds = 1_000;

    /// <summary>The largest max_queue_delay accepted: 1 second.</summary>
    public static readonly TimeSpan MaxAllowedQueueDelay = TimeSpan.FromSeconds(1);

    /// <summary>The largest max_batch_size accepted.</summary>
    public const int MaxAllowedBatchSize = 4096;

    /// <summary>The most instances one instance_group may ask for.</summary>
    public const int MaxInstanceCount = 64;

    /// <summary><see cref="QueueTimeoutMicroseconds"/> as a duration.</summary>
    public static TimeSpan QueueTimeout => TimeSpan.FromTicks(QueueTimeoutMicroseconds * 10);

    /// <summary><see cref="MaxQueueDelayMicroseconds"/> as a duration.</summary>
    public static TimeSpan MaxQueueDelay => TimeSpan.FromTicks(MaxQueueDelayMicroseconds * 10);
}
