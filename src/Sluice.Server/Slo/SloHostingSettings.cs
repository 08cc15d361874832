using Sluice.Slo.Evaluation;

namespace Sluice.Server.Slo;

/// <summary>
/// The clock and periods of the SLO engine's background work. The server uses <see cref="TimeProvider.System"/> and the
/// defaults; tests register their own instance (a <c>FakeTimeProvider</c>) before <c>AddSlo</c> so the evaluator's windows
/// and alert timers move only when the test says.
/// </summary>
internal sealed class SloHostingSettings
{
    /// <summary>The clock of the evaluator, the evaluation loop and the gauge sampler.</summary>
    public required TimeProvider Clock { get; init; }

    /// <summary>How often the SLOs are evaluated.</summary>
    public TimeSpan EvaluationInterval { get; init; } = SloEvaluator.DefaultEvaluationInterval;

    /// <summary>How often resource gauges are sampled and calibrations re-read.</summary>
    public TimeSpan SamplingInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How many times one webhook notification is tried in all before it is dropped.</summary>
    public int WebhookAttempts { get; init; } = 4;

    /// <summary>The delay before the first webhook retry; doubled for each later one.</summary>
    public TimeSpan WebhookFirstRetryDelay { get; init; } = TimeSpan.FromSeconds(1);
}
