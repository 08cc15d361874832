using Sluice.Slo.Evaluation;

namespace Sluice.Slo.Tests.Evaluation;

public sealed class AlertStatusTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    public static TheoryData<AlertState, bool, int, int, AlertState> Transitions => new()
    {
        // from, condition holds, minutes since the condition began to hold, for (minutes) → to
        { AlertState.Inactive, false, 0, 2, AlertState.Inactive },
        { AlertState.Inactive, true, 0, 2, AlertState.Pending },
        { AlertState.Inactive, true, 0, 0, AlertState.Firing },      // for: 0 fires at once, as in Prometheus
        { AlertState.Pending, true, 1, 2, AlertState.Pending },
        { AlertState.Pending, true, 2, 2, AlertState.Firing },       // held for exactly "for"
        { AlertState.Pending, false, 1, 2, AlertState.Inactive },    // never fired: back to inactive
        { AlertState.Firing, true, 10, 2, AlertState.Firing },
        { AlertState.Firing, false, 10, 2, AlertState.Resolved },
        { AlertState.Resolved, false, 0, 2, AlertState.Resolved },
        { AlertState.Resolved, true, 0, 2, AlertState.Pending },
    };

    [Theory]
    [MemberData(nameof(Transitions))]
    public void Next_StateMachine_FollowsPrometheusSemantics(AlertState from, bool holds, int heldMinutes, int forMinutes, AlertState to)
    {
        var now = T0 + TimeSpan.FromMinutes(heldMinutes);
        var current = from switch
        {
            AlertState.Pending => new AlertStatus(AlertState.Pending, T0, null, null),
            AlertState.Firing => new AlertStatus(AlertState.Firing, T0, T0, null),
            AlertState.Resolved => new AlertStatus(AlertState.Resolved, null, T0 - TimeSpan.FromHours(1), T0 - TimeSpan.FromMinutes(1)),
            _ => AlertStatus.Initial,
        };

        var next = current.Next(holds, now, TimeSpan.FromMinutes(forMinutes));

        Assert.Equal(to, next.State);
        Assert.Equal(to is AlertState.Pending or AlertState.Firing, next.ActiveSince is not null);
    }

    [Fact]
    public void Next_FiringThenResolved_RecordsBothInstants()
    {
        var pending = AlertStatus.Initial.Next(true, T0, TimeSpan.FromMinutes(1));
        var firing = pending.Next(true, T0 + TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        var resolved = firing.Next(false, T0 + TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1));

        Assert.Equal((T0, T0 + TimeSpan.FromMinutes(1)), (firing.ActiveSince!.Value, firing.FiredAt!.Value));
        Assert.Equal(T0 + TimeSpan.FromMinutes(1), resolved.FiredAt);
        Assert.Equal(T0 + TimeSpan.FromMinutes(5), resolved.ResolvedAt);
    }

    public static TheoryData<double?, double?, double, bool> Conditions => new()
    {
        // long ratio, short ratio, budget → holds (factor 14.4)
        { 0.015, 0.015, 0.001, true },
        { 0.015, 0.014, 0.001, false },     // short window below: the burn has stopped
        { 0.014, 0.1, 0.001, false },       // long window below: a blip
        { null, 0.1, 0.001, false },        // no traffic in the long window (Prometheus: NaN)
        { 0.0144, 0.0144, 0.001, false },   // not above: equal does not fire
    };

    [Theory]
    [MemberData(nameof(Conditions))]
    public void Holds_BothWindowsAboveFactorTimesBudget_Required(double? longRatio, double? shortRatio, double budget, bool holds)
    {
        Assert.Equal(holds, BurnRateAlerts.Holds(BurnRateAlerts.Page[0], longRatio, shortRatio, budget));
    }
}
