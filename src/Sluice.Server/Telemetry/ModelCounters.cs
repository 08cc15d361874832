using System.Collections.Concurrent;
using Sluice.Core.Inference;

namespace Sluice.Server.Telemetry;

/// <summary>
/// Cumulative counts of one model version, the state behind Triton's <c>nv_inference_*</c> counters and the batching gauges.
/// Every field is written with <see cref="Interlocked"/> from request and batch threads and read at collection.
/// </summary>
internal sealed class ModelCounters
{
    /// <summary>Requests that got a response.</summary>
    public long Success;
    /// <summary>Failed requests by Triton reason, indexed by <see cref="FailureReason"/>.</summary>
    public readonly long[] Failure = new long[FailureReasons.Count];
    /// <summary>Inferences (batch rows) executed.</summary>
    public long InferenceCount;
    /// <summary>Model executions (batches).</summary>
    public long ExecutionCount;
    /// <summary>Executions whose size was a preferred size (or the max when none is set).</summary>
    public long PreferredHits;
    /// <summary>Sum of max_batch_size over executions, the denominator of the fill ratio (0 for models that do not batch).</summary>
    public long BatchCapacity;
    /// <summary>Rows of executions of models that batch, the numerator of the fill ratio.</summary>
    public long BatchedRows;
    /// <summary>Cumulative microseconds of successful requests: end-to-end, queue, compute input, infer and output.</summary>
    public long RequestUs, QueueUs, ComputeInputUs, ComputeInferUs, ComputeOutputUs;
}

/// <summary>Triton's <c>reason</c> label values of <c>nv_inference_request_failure</c>.</summary>
internal static class FailureReasons
{
    public const int Rejected = 0, Canceled = 1, Backend = 2, Other = 3, Count = 4;

    public static readonly string[] Labels = ["REJECTED", "CANCELED", "BACKEND", "OTHER"];

    /// <summary>Maps an error to its reason: refusals before running are REJECTED, runtime failures BACKEND.</summary>
    public static int Of(InferenceError error) => error switch
    {
        InferenceError.QueueFull or InferenceError.QueueTimeout or InferenceError.Draining or InferenceError.ModelNotReady => Rejected,
        InferenceError.Canceled => Canceled,
        InferenceError.RuntimeFailure => Backend,
        _ => Other,
    };
}

/// <summary>The <see cref="ModelCounters"/> of every model version seen, by (model, version).</summary>
internal sealed class ModelCounterTable
{
    private readonly ConcurrentDictionary<(string Model, string Version), ModelCounters> _counters = new();

    public ModelCounters For(string model, string version) => _counters.GetOrAdd((model, version), static _ => new ModelCounters());

    public IEnumerable<KeyValuePair<(string Model, string Version), ModelCounters>> All => _counters;
}
