using Sluice.Core.Generation;
using Sluice.Slo.Evaluation;

namespace Sluice.Server.Slo;

/// <summary>
/// Feeds the SLO evaluator from the generation seam: every ended sequence becomes one event for the model's ttft and itl SLOs
/// (finished: judged on its timings; failed: bad; cancelled: not counted). Token and step callbacks are ignored: the
/// sequence's end carries every timing the SLIs need. Lock-free, no allocation: the evaluator only increments counters.
/// </summary>
internal sealed class SloGenerationObserver(SloEvaluator evaluator) : IGenerationObserver
{
    /// <inheritdoc />
    public void FirstToken(string model, TimeSpan timeToFirstToken, TimeSpan queue)
    {
    }

    /// <inheritdoc />
    public void NextToken(string model, TimeSpan interTokenLatency)
    {
    }

    /// <inheritdoc />
    public void SequenceEnded(string model, string protocol, FinishReason reason, GenerationUsage usage, TimeSpan p95InterTokenLatency)
    {
        if (usage is not null)
        {
            evaluator.RecordSequence(SequenceOutcome.From(model, reason, usage, p95InterTokenLatency));
        }
    }

    /// <inheritdoc />
    public void StepExecuted(in GenerationStep step)
    {
    }
}
