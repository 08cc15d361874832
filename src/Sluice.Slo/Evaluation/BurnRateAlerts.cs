namespace Sluice.Slo.Evaluation;

/// <summary>The two alert severities of the SRE workbook's multi-window, multi-burn-rate alerting.</summary>
public enum AlertSeverity
{
    /// <summary>Fast burn: wake someone up.</summary>
    Page,
    /// <summary>Slow burn: open a ticket.</summary>
    Ticket,
}

/// <summary>One condition of an alert: both windows' burn rates above <see cref="Factor"/>.</summary>
/// <param name="LongWindow">The long window (e.g. 1h): the burn has lasted.</param>
/// <param name="ShortWindow">The short window (e.g. 5m): the burn is still going on, so the alert resolves soon after it stops.</param>
/// <param name="Factor">The burn rate both must exceed.</param>
public sealed record BurnRateCondition(TimeSpan LongWindow, TimeSpan ShortWindow, double Factor);

/// <summary>The SRE workbook's windows and factors: page 1h/5m at 14.4 or 6h/30m at 6; ticket 1d/2h at 3 or 3d/6h at 1.</summary>
public static class BurnRateAlerts
{
    /// <summary>Every window an error ratio is computed for, besides the SLO's own window.</summary>
    public static IReadOnlyList<TimeSpan> Windows { get; } =
    [
        TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(1), TimeSpan.FromHours(2),
        TimeSpan.FromHours(6), TimeSpan.FromDays(1), TimeSpan.FromDays(3),
    ];

    /// <summary>The page conditions (either one fires the alert).</summary>
    public static IReadOnlyList<BurnRateCondition> Page { get; } =
    [
        new(TimeSpan.FromHours(1), TimeSpan.FromMinutes(5), 14.4),
        new(TimeSpan.FromHours(6), TimeSpan.FromMinutes(30), 6),
    ];

    /// <summary>The ticket conditions (either one fires the alert).</summary>
    public static IReadOnlyList<BurnRateCondition> Ticket { get; } =
    [
        new(TimeSpan.FromDays(1), TimeSpan.FromHours(2), 3),
        new(TimeSpan.FromDays(3), TimeSpan.FromHours(6), 1),
    ];

    /// <summary>The conditions of one severity.</summary>
    public static IReadOnlyList<BurnRateCondition> For(AlertSeverity severity) => severity == AlertSeverity.Page ? Page : Ticket;

    /// <summary>
    /// Whether a condition holds: both windows' error ratios above factor × error budget (compared as ratios, the way the
    /// generated Prometheus rules do, so both sides round alike). A window without events never holds (Prometheus: NaN).
    /// </summary>
    public static bool Holds(BurnRateCondition condition, double? longErrorRatio, double? shortErrorRatio, double errorBudget) =>
        longErrorRatio > condition.Factor * errorBudget && shortErrorRatio > condition.Factor * errorBudget;
}

/// <summary>Where an alert is in its life.</summary>
public enum AlertState
{
    /// <summary>The condition does not hold (and the alert never fired since it last held).</summary>
    Inactive,
    /// <summary>The condition holds, for less than the alert's <c>for</c> duration.</summary>
    Pending,
    /// <summary>The condition has held for at least <c>for</c>.</summary>
    Firing,
    /// <summary>The alert fired, and the condition no longer holds.</summary>
    Resolved,
}

/// <summary>An alert's state and its timestamps.</summary>
/// <param name="State">The state.</param>
/// <param name="ActiveSince">When the condition began to hold (pending or firing), else null.</param>
/// <param name="FiredAt">When it last began firing.</param>
/// <param name="ResolvedAt">When it last resolved.</param>
public readonly record struct AlertStatus(AlertState State, DateTimeOffset? ActiveSince, DateTimeOffset? FiredAt, DateTimeOffset? ResolvedAt)
{
    /// <summary>A never-active alert.</summary>
    public static AlertStatus Initial => new(AlertState.Inactive, null, null, null);

    /// <summary>
    /// The next status after an evaluation at <paramref name="now"/>, with Prometheus's semantics: the condition holding makes the
    /// alert pending, and firing once it has held for <paramref name="forDuration"/> (at once when that is zero); the condition
    /// ceasing resolves a firing alert and drops a pending one. Pure.
    /// </summary>
    public AlertStatus Next(bool conditionHolds, DateTimeOffset now, TimeSpan forDuration)
    {
        if (conditionHolds)
        {
            var since = State is AlertState.Pending or AlertState.Firing ? ActiveSince!.Value : now;
            if (State == AlertState.Firing)
            {
                return this;
            }

            return now - since >= forDuration
                ? new AlertStatus(AlertState.Firing, since, now, ResolvedAt)
                : new AlertStatus(AlertState.Pending, since, FiredAt, ResolvedAt);
        }

        return State switch
        {
            AlertState.Firing => new AlertStatus(AlertState.Resolved, null, FiredAt, now),
            AlertState.Pending => new AlertStatus(AlertState.Inactive, null, FiredAt, ResolvedAt),
            _ => this,
        };
    }
}
