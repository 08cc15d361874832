namespace Sluice.Engine.Telemetry;

/// <summary>The load of one ready model version at one moment.</summary>
/// <param name="ModelName">The model.</param>
/// <param name="ModelVersion">The version, as text.</param>
/// <param name="Queued">Requests waiting in the queue (Triton's pending request count).</param>
/// <param name="InFlight">Admitted requests not yet finished (queued or executing).</param>
/// <param name="MaxBatchSize">The model's max_batch_size (0 when it does not batch).</param>
/// <param name="ExpectedQueueWait">How long the queued rows would take to drain, as admission estimates it; null until a batch
/// ran while others waited.</param>
public readonly record struct ModelVersionLoad(
    string ModelName, string ModelVersion, int Queued, long InFlight, int MaxBatchSize, TimeSpan? ExpectedQueueWait = null);
