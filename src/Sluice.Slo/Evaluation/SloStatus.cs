using Sluice.Slo.Spec;

namespace Sluice.Slo.Evaluation;

/// <summary>The error ratio and burn rate over one window.</summary>
/// <param name="Window">The window.</param>
/// <param name="Counts">Good and total events (or slices) in it.</param>
/// <param name="BurnRate">Error ratio / error budget; 0 when the window had no events.</param>
public sealed record BurnRateWindow(TimeSpan Window, GoodTotal Counts, double BurnRate)
{
    /// <summary>Bad / total; null without events.</summary>
    public double? ErrorRatio => Counts.ErrorRatio;
}

/// <summary>The error budget over the SLO window.</summary>
/// <param name="Total">Bad events (or slices) the objective allows over the window's counted total: (1 − objective) × total.</param>
/// <param name="Consumed">Bad events (or slices) so far.</param>
/// <param name="ConsumedRatio">Consumed / total budget (error ratio / (1 − objective)); 0 without events.</param>
/// <param name="TimeToExhaustion">At the last hour's burn rate, how long until nothing remains; null when not burning,
/// zero when already exhausted.</param>
public sealed record ErrorBudgetStatus(double Total, double Consumed, double ConsumedRatio, TimeSpan? TimeToExhaustion)
{
    /// <summary>1 − consumed ratio; negative once overspent.</summary>
    public double RemainingRatio => 1 - ConsumedRatio;
}

/// <summary>Whether an SLO had data to judge.</summary>
public enum SloDataState
{
    /// <summary>There were events or slices in the window.</summary>
    Ok,
    /// <summary>Nothing to judge in the window (no traffic, no load, or no measured peak).</summary>
    NoData,
}

/// <summary>One SLO's status at one evaluation: what <c>GET /v2/slo/{name}</c> returns.</summary>
public sealed record SloStatus
{
    /// <summary>The SLO.</summary>
    public required SloSpec Spec { get; init; }

    /// <summary>When it was evaluated.</summary>
    public required DateTimeOffset EvaluatedAt { get; init; }

    /// <summary>Whether there was data.</summary>
    public required SloDataState DataState { get; init; }

    /// <summary>Why there is no data, in words (e.g. "no peak measured for model 'minilm'"); null when there is.</summary>
    public string? NoDataReason { get; init; }

    /// <summary>Good / total over the SLO window; null without data.</summary>
    public double? Sli { get; init; }

    /// <summary>Good and total over the SLO window.</summary>
    public required GoodTotal WindowCounts { get; init; }

    /// <summary>The error budget.</summary>
    public required ErrorBudgetStatus ErrorBudget { get; init; }

    /// <summary>Burn rates for 5m, 30m, 1h, 2h, 6h, 1d, 3d and the SLO window, in that order.</summary>
    public required IReadOnlyList<BurnRateWindow> BurnRates { get; init; }

    /// <summary>The page alert.</summary>
    public required AlertStatus Page { get; init; }

    /// <summary>The ticket alert.</summary>
    public required AlertStatus Ticket { get; init; }

    /// <summary>The burn rate over one window, or null when it is not one of <see cref="BurnRates"/>.</summary>
    public BurnRateWindow? BurnRate(TimeSpan window) => BurnRates.FirstOrDefault(b => b.Window == window);
}

/// <summary>An alert changed state. The server logs it, exports it and posts it to Alertmanager.</summary>
/// <param name="Spec">The SLO.</param>
/// <param name="Severity">Page or ticket.</param>
/// <param name="From">The state before.</param>
/// <param name="To">The state now.</param>
/// <param name="Status">The alert's full status now.</param>
/// <param name="At">When.</param>
/// <param name="LongBurnRate">The burn rate of the long window of the severity's first condition (1h page, 1d ticket).</param>
/// <param name="ShortBurnRate">The burn rate of its short window (5m page, 2h ticket).</param>
public sealed record AlertTransition(
    SloSpec Spec, AlertSeverity Severity, AlertState From, AlertState To, AlertStatus Status, DateTimeOffset At,
    double LongBurnRate, double ShortBurnRate);

/// <summary>The cumulative counts since start of one SLO, as exported to Prometheus.</summary>
/// <param name="Spec">The SLO.</param>
/// <param name="Good">Good events (request-based SLOs) or good slices (timeslice SLOs).</param>
/// <param name="Bad">Bad events or slices.</param>
public readonly record struct SloCounterSnapshot(SloSpec Spec, long Good, long Bad)
{
    /// <summary>The Prometheus metric this counter is exported as: events for occurrences, timeslices otherwise.</summary>
    public string MetricName => Spec.BudgetingMethod == BudgetingMethod.Occurrences ? SloMetricNames.Events : SloMetricNames.Timeslices;
}

/// <summary>The metric names and label names the server exports for the SLO engine (see README).</summary>
public static class SloMetricNames
{
    /// <summary>Counter of request events per request-based SLO, labels slo and outcome ("good" | "bad").</summary>
    public const string Events = "sluice_slo_events_total";

    /// <summary>Counter of judged time slices per timeslice SLO, labels slo and outcome ("good" | "bad").</summary>
    public const string Timeslices = "sluice_slo_timeslices_total";

    /// <summary>The SLO name label.</summary>
    public const string SloLabel = "slo";

    /// <summary>The outcome label.</summary>
    public const string OutcomeLabel = "outcome";
}
