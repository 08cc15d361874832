using Sluice.Core.Inference;

namespace Sluice.Core.Serving;

/// <summary>
/// Told of every finished request and every executed batch: the one seam through which telemetry (metrics, traces) and the
/// SLO engine learn what happened, so both count exactly the same events. Registered with <c>TryAddEnumerable</c>; every
/// registered observer is called, synchronously, on the request's or batch's own thread, so implementations must be cheap
/// and must not throw.
/// </summary>
public interface IInferenceObserver
{
    /// <summary>Called once per inference request that reached a protocol endpoint, after its response was written (or failed).</summary>
    void RequestCompleted(in RequestCompletion completion);

    /// <summary>Called once per batch the engine executed, after its outputs were split back to the requests.</summary>
    void BatchExecuted(in BatchExecution execution);
}

/// <summary>A finished request: who, how it ended, and its phase timestamps.</summary>
/// <param name="ModelName">The model asked for (may be unknown to the repository when <paramref name="Error"/> is ModelNotFound).</param>
/// <param name="ModelVersion">The version that ran, or the one asked for, or empty.</param>
/// <param name="Protocol"><c>http</c> or <c>grpc</c>.</param>
/// <param name="Error"><see cref="InferenceError.None"/> on success.</param>
/// <param name="Timestamps">The request's phase timestamps (zeros for phases it never reached).</param>
public readonly record struct RequestCompletion(string ModelName, string ModelVersion, string Protocol, InferenceError Error, RequestTimestamps Timestamps);

/// <summary>One executed batch.</summary>
/// <param name="BatchSize">Rows in the batch.</param>
/// <param name="MaxBatchSize">The model's max_batch_size (0 when it does not batch).</param>
/// <param name="IsPreferredSize">The size is one of the preferred sizes (or the max when none are set): a batch "hit".</param>
/// <param name="Backlogged">Requests were still queued after this batch was taken: the model was under load.</param>
/// <param name="ComputeInput">Time spent binding inputs.</param>
/// <param name="ComputeInfer">Pure execution time.</param>
/// <param name="ComputeOutput">Time spent copying and splitting outputs.</param>
public readonly record struct BatchExecution(
    string ModelName,
    string ModelVersion,
    int BatchSize,
    int MaxBatchSize,
    bool IsPreferredSize,
    bool Backlogged,
    TimeSpan ComputeInput,
    TimeSpan ComputeInfer,
    TimeSpan ComputeOutput);
