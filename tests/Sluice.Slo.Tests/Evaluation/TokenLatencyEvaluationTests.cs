using Microsoft.Extensions.Time.Testing;
using Sluice.Core.Generation;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Spec;
using Sluice.Slo.Tests.TestSupport;

namespace Sluice.Slo.Tests.Evaluation;

/// <summary>ttft and itl SLIs in the evaluator: which sequences are good, bad or not counted, and what budgets and burn rates
/// follow from them.</summary>
public sealed class TokenLatencyEvaluationTests
{
    private static SloSpec Ttft(double thresholdMs = 500, double objective = 0.99) => new()
    {
        Name = "llm-ttft",
        Model = "llm",
        Objective = objective,
        BudgetingMethod = BudgetingMethod.Occurrences,
        Sli = new TtftSli(TimeSpan.FromMilliseconds(thresholdMs)),
    };

    private static SloSpec Itl(ItlStatistic statistic, double thresholdMs = 50) => new()
    {
        Name = $"llm-itl-{statistic.ToString().ToLowerInvariant()}",
        Model = "llm",
        Objective = 0.95,
        BudgetingMethod = BudgetingMethod.Occurrences,
        Sli = new ItlSli(TimeSpan.FromMilliseconds(thresholdMs), statistic),
    };

    private static SequenceOutcome Sequence(FinishReason finish = FinishReason.Stop, int tokens = 10, double ttftMs = 100,
        double meanItlMs = 20, double p95ItlMs = 30, string model = "llm") =>
        new(model, finish, tokens, TimeSpan.FromMilliseconds(ttftMs), TimeSpan.FromMilliseconds(meanItlMs), TimeSpan.FromMilliseconds(p95ItlMs));

    public static TheoryData<string, FinishReason, int, double, double, double, SloEventOutcome> Cases => new()
    {
        // SLI (ttft 500 ms | itl-mean 50 ms | itl-p95 50 ms), finish, tokens, ttft, mean ITL, p95 ITL (ms) → outcome
        { "ttft", FinishReason.Stop, 10, 499, 20, 30, SloEventOutcome.Good },
        { "ttft", FinishReason.Length, 10, 500, 20, 30, SloEventOutcome.Good },          // at the threshold is good
        { "ttft", FinishReason.Stop, 10, 501, 20, 30, SloEventOutcome.Bad },
        { "ttft", FinishReason.Stop, 1, 100, 0, 0, SloEventOutcome.Good },               // one token has a TTFT
        { "ttft", FinishReason.Stop, 0, 0, 0, 0, SloEventOutcome.NotCounted },            // no token, no TTFT
        { "ttft", FinishReason.Cancelled, 10, 9000, 20, 30, SloEventOutcome.NotCounted }, // the client left: never bad
        { "ttft", FinishReason.Error, 0, 0, 0, 0, SloEventOutcome.Bad },                  // a runtime failure is bad
        { "itl-mean", FinishReason.Stop, 10, 900, 50, 400, SloEventOutcome.Good },        // mean judged, not p95 or TTFT
        { "itl-mean", FinishReason.Length, 10, 100, 51, 30, SloEventOutcome.Bad },
        { "itl-mean", FinishReason.Stop, 1, 100, 0, 0, SloEventOutcome.NotCounted },      // no gap between tokens
        { "itl-mean", FinishReason.Cancelled, 10, 100, 900, 900, SloEventOutcome.NotCounted },
        { "itl-mean", FinishReason.Error, 3, 100, 10, 10, SloEventOutcome.Bad },
        { "itl-p95", FinishReason.Stop, 10, 100, 20, 50, SloEventOutcome.Good },
        { "itl-p95", FinishReason.Stop, 10, 100, 20, 51, SloEventOutcome.Bad },           // a stall the mean hides
        { "itl-p95", FinishReason.Stop, 2, 100, 20, 20, SloEventOutcome.Good },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Classify_Sequence_FollowsFinishAndThreshold(
        string sli, FinishReason finish, int tokens, double ttftMs, double meanMs, double p95Ms, SloEventOutcome expected)
    {
        var slo = sli switch { "ttft" => Ttft(), "itl-mean" => Itl(ItlStatistic.Mean), _ => Itl(ItlStatistic.P95) };

        Assert.Equal(expected, SloEventClassifier.Classify(slo, Sequence(finish, tokens, ttftMs, meanMs, p95Ms)));
    }

    [Fact]
    public void Classify_RequestsAndOtherModels_NeverCountForTokenLatency()
    {
        Assert.Equal(SloEventOutcome.NotCounted, SloEventClassifier.Classify(Ttft(), Sequence(model: "other")));
        Assert.Equal(SloEventOutcome.NotCounted, SloEventClassifier.Classify(Ttft(), Slos.Success(model: "llm")));
        Assert.Equal(SloEventOutcome.NotCounted, SloEventClassifier.Classify(Slos.Latency() with { Model = "llm" }, Sequence()));
    }

    [Fact]
    public void RecordSequence_MixedOutcomes_CountsOnlyTheMatchingTokenLatencySlos()
    {
        var clock = new FakeTimeProvider(Slos.Start);
        var latency = Slos.Latency() with { Model = "llm" };
        var evaluator = new SloEvaluator([Ttft(), Itl(ItlStatistic.P95), latency], clock);

        evaluator.RecordSequence(Sequence(ttftMs: 100, p95ItlMs: 20));                      // good, good
        evaluator.RecordSequence(Sequence(ttftMs: 800, p95ItlMs: 80));                      // bad, bad
        evaluator.RecordSequence(Sequence(FinishReason.Cancelled, ttftMs: 9000));           // not counted
        evaluator.RecordSequence(Sequence(FinishReason.Error, tokens: 0));                  // bad, bad
        evaluator.RecordSequence(Sequence(FinishReason.Length, tokens: 1, ttftMs: 50));     // good, not counted (one token)
        evaluator.RecordSequence(Sequence(model: "other", ttftMs: 9000));                   // another model
        evaluator.Record(Slos.Success(model: "llm"));                                       // a request: latency's only

        var counters = evaluator.GetCounters();
        Assert.Equal((2, 2), (counters[0].Good, counters[0].Bad));
        Assert.Equal((1, 2), (counters[1].Good, counters[1].Bad));
        Assert.Equal((1, 0), (counters[2].Good, counters[2].Bad));
        Assert.All(counters, c => Assert.Equal(SloMetricNames.Events, c.MetricName));
    }

    [Fact]
    public void Evaluate_TwoPercentSlowFirstTokens_SliBudgetAndBurnRatesMatchHandComputation()
    {
        // Objective 99%: 2% of sequences over the threshold for an hour burns at 2× the budget; the 30-day window holds only
        // this hour, so it has consumed 2× its budget (remaining −1). Cancelled sequences change nothing.
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Ttft()], clock);
        SloStatus status = null!;
        for (int minute = 0; minute < 60; minute++)
        {
            for (int i = 0; i < 100; i++)
            {
                evaluator.RecordSequence(Sequence(ttftMs: i < 2 ? 700 : 200));
                evaluator.RecordSequence(Sequence(FinishReason.Cancelled, ttftMs: 5000));
            }

            clock.Advance(TimeSpan.FromMinutes(1));
            status = evaluator.Evaluate()[0];
        }

        Assert.Equal(SloDataState.Ok, status.DataState);
        Assert.Equal(new GoodTotal(5880, 6000), status.WindowCounts);
        Assert.Equal(0.98, status.Sli!.Value, 9);
        Assert.Equal(2, status.BurnRate(TimeSpan.FromHours(1))!.BurnRate, 9);
        Assert.Equal(2, status.BurnRate(TimeSpan.FromMinutes(5))!.BurnRate, 9);
        Assert.Equal(-1, status.ErrorBudget.RemainingRatio, 9);
        Assert.Equal(TimeSpan.Zero, status.ErrorBudget.TimeToExhaustion);
        Assert.Equal(AlertState.Inactive, status.Page.State);   // 2× is below the page's 6× and 14.4×
    }

    [Fact]
    public void Evaluate_ItlStallsBurningFast_PagesThenResolves()
    {
        // Objective 95% (budget 5%): for 5 minutes every sequence's p95 ITL is over the threshold: the 1h and 5m ratios
        // are 1 > 14.4 × 0.05 = 0.72, so the page is pending at the first evaluation and fires once for (2m) has passed.
        // Then clean: the 6h and 30m ratios (all traffic is inside both) are 250 / (50 m) for m minutes, above 6 × 0.05 = 0.3
        // until m = 17, so the page resolves at the 17th minute.
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Itl(ItlStatistic.P95)], clock);
        var states = new List<AlertState>();
        for (int minute = 0; minute < 20; minute++)
        {
            bool stalled = minute < 5;
            for (int i = 0; i < 50; i++)
            {
                evaluator.RecordSequence(Sequence(meanItlMs: 20, p95ItlMs: stalled ? 300 : 20));
            }

            clock.Advance(TimeSpan.FromMinutes(1));
            states.Add(evaluator.Evaluate()[0].Page.State);
        }

        Assert.Equal(AlertState.Pending, states[0]);
        Assert.Equal(AlertState.Firing, states[2]);
        Assert.Equal(AlertState.Firing, states[15]);
        Assert.Equal(AlertState.Resolved, states[16]);
    }

    [Fact]
    public void Evaluate_NoSequences_NoDataWithTheSequencesReason()
    {
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Ttft()], clock);
        evaluator.RecordSequence(Sequence(FinishReason.Cancelled));

        clock.Advance(TimeSpan.FromMinutes(5));
        var status = evaluator.Evaluate()[0];

        Assert.Equal(SloDataState.NoData, status.DataState);
        Assert.Equal("no generated sequences in the window", status.NoDataReason);
        Assert.Equal(1, status.ErrorBudget.RemainingRatio);
    }

    [Fact]
    public void SloStatusJson_TokenLatencySlos_ReportTheirKinds()
    {
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Ttft(), Itl(ItlStatistic.Mean)], clock);
        evaluator.RecordSequence(Sequence());
        clock.Advance(TimeSpan.FromMinutes(1));

        using var json = System.Text.Json.JsonDocument.Parse(SloStatusJson.WriteAll(evaluator.Evaluate()));

        var slos = json.RootElement.GetProperty("slos").EnumerateArray().ToList();
        Assert.Equal(["ttft", "itl"], slos.Select(s => s.GetProperty("sli_kind").GetString()));
        Assert.All(slos, s => Assert.Equal("occurrences", s.GetProperty("budgeting").GetString()));
        Assert.Equal(1, slos[0].GetProperty("good").GetDouble());
    }
}
