using System.Diagnostics;

namespace Sluice.Core.Inference;

/// <summary>
/// The moments one request passed through each phase, in <see cref="Stopwatch.GetTimestamp"/> ticks (0 = not reached).
/// Written by one party at a time as the request moves along (protocol → queue → batch → runner → protocol), so no locking.
/// </summary>
public sealed class RequestTimestamps
{
    /// <summary>The protocol layer began reading the request.</summary>
    public long Received { get; set; }
    /// <summary>The request entered its model's queue.</summary>
    public long Queued { get; set; }
    /// <summary>The batch holding it was formed and handed to the runner.</summary>
    public long BatchStart { get; set; }
    /// <summary>Inputs were prepared for the runtime (batched, copied, bound).</summary>
    public long ComputeInputEnd { get; set; }
    /// <summary>The runtime finished executing the model.</summary>
    public long ComputeInferEnd { get; set; }
    /// <summary>Outputs were copied out and split back to this request.</summary>
    public long ComputeOutputEnd { get; set; }
    /// <summary>The protocol layer finished writing the response.</summary>
    public long ResponseSent { get; set; }
    /// <summary>Size of the batch this request ran in (in batch-dimension rows), 0 before it ran.</summary>
    public int BatchSize { get; set; }

    /// <summary>Time from arrival to entering the queue: reading, decoding and validating the request.</summary>
    public TimeSpan AdmitDuration => Between(Received, Queued);
    /// <summary>Time from entering the queue to the batch starting.</summary>
    public TimeSpan QueueDuration => Between(Queued, BatchStart);
    /// <summary>Time spent preparing inputs.</summary>
    public TimeSpan ComputeInputDuration => Between(BatchStart, ComputeInputEnd);
    /// <summary>Pure model execution time.</summary>
    public TimeSpan ComputeInferDuration => Between(ComputeInputEnd, ComputeInferEnd);
    /// <summary>Time spent copying and splitting outputs.</summary>
    public TimeSpan ComputeOutputDuration => Between(ComputeInferEnd, ComputeOutputEnd);
    /// <summary>Compute input + infer + output.</summary>
    public TimeSpan ComputeDuration => Between(BatchStart, ComputeOutputEnd);
    /// <summary>From arrival until the response was written (or until now's last stamp when not yet sent).</summary>
    public TimeSpan EndToEndDuration => Between(Received, ResponseSent != 0 ? ResponseSent : ComputeOutputEnd);

    private static TimeSpan Between(long start, long end) =>
        start == 0 || end == 0 || end < start ? TimeSpan.Zero : Stopwatch.GetElapsedTime(start, end);
}
