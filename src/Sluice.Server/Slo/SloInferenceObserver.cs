using Sluice.Core.Serving;
using Sluice.Slo.Evaluation;

namespace Sluice.Server.Slo;

/// <summary>
/// Feeds the SLO evaluator from the serving seam: every finished request (latency and availability SLIs) and every executed
/// batch (throughput and batching SLIs). Lock-free, no allocation: the evaluator only increments counters.
/// </summary>
internal sealed class SloInferenceObserver(SloEvaluator evaluator) : IInferenceObserver
{
    /// <inheritdoc />
    public void RequestCompleted(in RequestCompletion completion)
    {
        var version = string.IsNullOrEmpty(completion.ModelVersion) ? null : completion.ModelVersion;
        evaluator.Record(completion.Timestamps is { } timestamps
            ? RequestOutcome.From(completion.ModelName, version, completion.Error, timestamps)
            : new RequestOutcome(completion.ModelName, version, completion.Error, default, default, default, default, 0));
    }

    /// <inheritdoc />
    public void BatchExecuted(in BatchExecution execution) =>
        evaluator.RecordExecution(new ExecutionOutcome(execution.ModelName, execution.BatchSize, execution.IsPreferredSize, execution.Backlogged));
}
