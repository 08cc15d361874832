using Microsoft.Extensions.Time.Testing;
using Sluice.Core.Inference;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Tests.TestSupport;

/// <summary>Spec builders and a minute-by-minute traffic driver.</summary>
internal static class Slos
{
    public static readonly DateTimeOffset Start = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    public static SloSpec Availability(string name = "avail", double objective = 0.999, TimeSpan? window = null,
        TimeSpan? pageFor = null, TimeSpan? ticketFor = null) => new()
    {
        Name = name,
        Model = "m",
        Objective = objective,
        Window = window ?? TimeSpan.FromDays(30),
        BudgetingMethod = BudgetingMethod.Occurrences,
        Sli = new AvailabilitySli(AvailabilitySli.ServerSideFailures),
        Alerting = AlertingSpec.Default with
        {
            Page = AlertSeverityPolicy.DefaultPage with { For = pageFor ?? TimeSpan.FromMinutes(2) },
            Ticket = AlertSeverityPolicy.DefaultTicket with { For = ticketFor ?? TimeSpan.FromMinutes(15) },
        },
    };

    public static SloSpec Latency(string name = "lat", LatencyPhase phase = LatencyPhase.Compute, double thresholdMs = 50) => new()
    {
        Name = name,
        Model = "m",
        Objective = 0.99,
        BudgetingMethod = BudgetingMethod.Occurrences,
        Sli = new LatencySli(phase, TimeSpan.FromMilliseconds(thresholdMs)),
    };

    public static RequestOutcome Success(string model = "m", double computeMs = 10) =>
        new(model, "1", InferenceError.None, TimeSpan.FromMilliseconds(computeMs + 5), TimeSpan.FromMilliseconds(1),
            TimeSpan.FromMilliseconds(computeMs), TimeSpan.FromMilliseconds(computeMs * 0.8), 1);

    public static RequestOutcome Failure(InferenceError error, string model = "m") =>
        new(model, "1", error, TimeSpan.FromMilliseconds(3), TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, 0);

    /// <summary>For each of <paramref name="minutes"/> minutes: records the events, advances one minute, evaluates.</summary>
    public static List<IReadOnlyList<SloStatus>> Drive(FakeTimeProvider clock, SloEvaluator evaluator, int minutes, int good, int bad)
    {
        var statuses = new List<IReadOnlyList<SloStatus>>();
        for (int i = 0; i < minutes; i++)
        {
            for (int g = 0; g < good; g++)
            {
                evaluator.Record(Success());
            }

            for (int b = 0; b < bad; b++)
            {
                evaluator.Record(Failure(InferenceError.RuntimeFailure));
            }

            clock.Advance(TimeSpan.FromMinutes(1));
            statuses.Add(evaluator.Evaluate());
        }

        return statuses;
    }
}
