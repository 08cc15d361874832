using Sluice.Core.Generation;

namespace Sluice.Slo.Evaluation;

/// <summary>What the SLO engine needs to know about one ended generated sequence (ttft and itl SLIs): how it ended and its
/// token timings; no text, no tokens.</summary>
/// <param name="ModelName">The decoder model that generated it.</param>
/// <param name="Finish">Why it ended.</param>
/// <param name="CompletionTokens">Tokens it generated.</param>
/// <param name="TimeToFirstToken">Admission to first token available.</param>
/// <param name="MeanInterTokenLatency">Mean gap between consecutive tokens after the first (zero with fewer than two).</param>
/// <param name="P95InterTokenLatency">95th percentile of those gaps (zero with fewer than two tokens).</param>
public readonly record struct SequenceOutcome(
    string ModelName, FinishReason Finish, int CompletionTokens,
    TimeSpan TimeToFirstToken, TimeSpan MeanInterTokenLatency, TimeSpan P95InterTokenLatency)
{
    /// <summary>Builds the outcome from what <see cref="IGenerationObserver.SequenceEnded"/> is told.</summary>
    public static SequenceOutcome From(string modelName, FinishReason finish, GenerationUsage usage, TimeSpan p95InterTokenLatency)
    {
        ArgumentNullException.ThrowIfNull(usage);
        return new SequenceOutcome(modelName, finish, usage.CompletionTokens, usage.TimeToFirstToken, usage.MeanInterTokenLatency,
            p95InterTokenLatency);
    }

    /// <summary>True when the sequence finished normally (an EOS token, a stop sequence, max_tokens or the context length).</summary>
    public bool Finished => Finish is FinishReason.Stop or FinishReason.Length;
}
