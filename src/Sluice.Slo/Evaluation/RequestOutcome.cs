using System.Diagnostics;
using Sluice.Core.Generation;
using Sluice.Core.Inference;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Evaluation;

/// <summary>What the SLO engine needs to know about one completed request: no tensors, no protocol, just counts and durations.</summary>
/// <param name="ModelName">The model the request was for.</param>
/// <param name="ModelVersion">The version that ran (or was asked for); null when unknown.</param>
/// <param name="Error"><see cref="InferenceError.None"/> for a success, else why it failed.</param>
/// <param name="EndToEnd">Arrival to response written.</param>
/// <param name="Queue">Time in the model's queue.</param>
/// <param name="Compute">Compute input + infer + output.</param>
/// <param name="ComputeInfer">Pure model execution.</param>
/// <param name="BatchSize">Size of the batch the request ran in; 0 when it never ran.</param>
public readonly record struct RequestOutcome(
    string ModelName, string? ModelVersion, InferenceError Error,
    TimeSpan EndToEnd, TimeSpan Queue, TimeSpan Compute, TimeSpan ComputeInfer, int BatchSize)
{
    /// <summary>Builds the outcome from a request's phase timestamps.</summary>
    public static RequestOutcome From(string modelName, string? modelVersion, InferenceError error, RequestTimestamps timestamps)
    {
        ArgumentNullException.ThrowIfNull(timestamps);
        return new RequestOutcome(modelName, modelVersion, error, timestamps.EndToEndDuration, timestamps.QueueDuration,
            timestamps.ComputeDuration, timestamps.ComputeInferDuration, timestamps.BatchSize);
    }

    /// <summary>The duration of one phase.</summary>
    public TimeSpan Duration(LatencyPhase phase) => phase switch
    {
        LatencyPhase.EndToEnd => EndToEnd,
        LatencyPhase.Queue => Queue,
        LatencyPhase.Compute => Compute,
        LatencyPhase.ComputeInfer => ComputeInfer,
        _ => throw new UnreachableException($"Unmapped {nameof(LatencyPhase)}: {phase}"),
    };
}

/// <summary>One executed batch, as the batching loop saw it.</summary>
/// <param name="ModelName">The model that ran.</param>
/// <param name="BatchSize">Inferences (batch rows) in the execution.</param>
/// <param name="PreferredSize">True when the size was one of the preferred batch sizes (or the max when none is set).</param>
/// <param name="Backlogged">True when requests were still waiting in the queue after this batch was taken
/// (the model was saturated).</param>
public readonly record struct ExecutionOutcome(string ModelName, int BatchSize, bool PreferredSize, bool Backlogged);

/// <summary>How one request counts for one SLO.</summary>
public enum SloEventOutcome
{
    /// <summary>The request does not count for this SLO (another model, a client-side failure...).</summary>
    NotCounted,
    /// <summary>A good event.</summary>
    Good,
    /// <summary>A bad event.</summary>
    Bad,
}

/// <summary>
/// The seam the server calls; one implementation is <see cref="SloEvaluator"/>. Every method is cheap, lock-free and
/// independent of how many requests came before: counts are incremented, nothing per request is kept.
/// </summary>
public interface ISloEventSink
{
    /// <summary>Once per completed request (success or failure), after the response was written or the request was abandoned.</summary>
    void Record(in RequestOutcome outcome);

    /// <summary>Once per ended generated sequence (finished, cancelled or failed), for ttft and itl SLIs.</summary>
    void RecordSequence(in SequenceOutcome outcome);

    /// <summary>Once per executed batch (throughput and batching SLIs).</summary>
    void RecordExecution(in ExecutionOutcome execution);

    /// <summary>Aggregated executions (e.g. the increase of the server's own batch counters since its last call), added to the
    /// current time slice like that many <see cref="RecordExecution"/> calls. Call at least once per slice.</summary>
    void RecordExecutions(string modelName, long inferences, long executions, long preferredSizeExecutions, long backloggedExecutions);

    /// <summary>A sample of a process-wide gauge (resource SLIs), e.g. every 5-15 s. Utilizations are fractions in [0, 1].</summary>
    /// <param name="gauge">One of <see cref="ResourceSli.KnownGauges"/>.</param>
    /// <param name="value">The sampled value.</param>
    void RecordGauge(string gauge, double value);

    /// <summary>Sets (or clears, with null) a model's measured peak inferences/s, from its calibration.</summary>
    void SetPeak(string modelName, double? inferencesPerSecond);
}

/// <summary>Classifies requests against request-based SLIs. Pure; the single definition of good and bad.</summary>
public static class SloEventClassifier
{
    /// <summary>How <paramref name="outcome"/> counts for <paramref name="slo"/>.</summary>
    public static SloEventOutcome Classify(SloSpec slo, in RequestOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(slo);
        if (!string.Equals(slo.Model, outcome.ModelName, StringComparison.Ordinal) ||
            (slo.ModelVersion is not null && !string.Equals(slo.ModelVersion, outcome.ModelVersion, StringComparison.Ordinal)))
        {
            return SloEventOutcome.NotCounted;
        }

        switch (slo.Sli)
        {
            case LatencySli latency:
                // Only successes have a meaningful latency; failures are availability's business.
                if (outcome.Error != InferenceError.None)
                {
                    return SloEventOutcome.NotCounted;
                }

                return outcome.Duration(latency.Phase) <= latency.Threshold ? SloEventOutcome.Good : SloEventOutcome.Bad;

            case AvailabilitySli availability:
                if (outcome.Error == InferenceError.None)
                {
                    return SloEventOutcome.Good;
                }

                return availability.BadReasons.Contains(outcome.Error) ? SloEventOutcome.Bad : SloEventOutcome.NotCounted;

            default:
                return SloEventOutcome.NotCounted;
        }
    }

    /// <summary>How the generated sequence <paramref name="outcome"/> counts for <paramref name="slo"/>: a runtime failure is
    /// bad; a client cancellation is not counted (the client left, whatever the timings were); a finished sequence is good
    /// when its statistic is within the threshold, and not counted when it has no such statistic (no token for ttft, fewer
    /// than two for itl).</summary>
    public static SloEventOutcome Classify(SloSpec slo, in SequenceOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(slo);
        if (!slo.Sli.IsSequenceBased || !string.Equals(slo.Model, outcome.ModelName, StringComparison.Ordinal))
        {
            return SloEventOutcome.NotCounted;
        }

        if (outcome.Finish == FinishReason.Error)
        {
            return SloEventOutcome.Bad;
        }

        if (!outcome.Finished)
        {
            return SloEventOutcome.NotCounted;
        }

        switch (slo.Sli)
        {
            case TtftSli ttft:
                if (outcome.CompletionTokens < 1)
                {
                    return SloEventOutcome.NotCounted;
                }

                return outcome.TimeToFirstToken <= ttft.Threshold ? SloEventOutcome.Good : SloEventOutcome.Bad;

            case ItlSli itl:
                if (outcome.CompletionTokens < 2)
                {
                    return SloEventOutcome.NotCounted;
                }

                var latency = itl.Statistic == ItlStatistic.P95 ? outcome.P95InterTokenLatency : outcome.MeanInterTokenLatency;
                return latency <= itl.Threshold ? SloEventOutcome.Good : SloEventOutcome.Bad;

            default:
                return SloEventOutcome.NotCounted;
        }
    }
}
