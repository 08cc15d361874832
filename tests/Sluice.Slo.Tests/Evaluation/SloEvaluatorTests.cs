using Microsoft.Extensions.Time.Testing;
using Sluice.Core.Inference;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Spec;
using Sluice.Slo.Tests.TestSupport;

namespace Sluice.Slo.Tests.Evaluation;

public sealed class SloEvaluatorTests
{
    private static readonly TimeSpan Hour = TimeSpan.FromHours(1);

    public static TheoryData<double, double, double, double?, double, double, double?> BudgetCases => new()
    {
        // objective, good, total, last-hour error ratio → consumed ratio, remaining ratio, time to exhaustion (hours)
        { 0.999, 0, 0, null, 0, 1, null },                      // empty window: nothing consumed, not burning
        { 0.99, 0, 100, 1.0, 100, -99, 0 },                       // 100% bad: 100× the budget, exhausted now
        { 0.99, 995, 1000, 0.01, 0.5, 0.5, 15 * 24 },             // half spent at burn 1: the other half lasts half the window
        { 0.999, 9998, 10000, 0.0144, 0.2, 0.8, 40 },             // 0.8 × 720 h / 14.4 = 40 h
        { 0.99, 998, 1000, null, 0.2, 0.8, null },                // no traffic in the last hour: no exhaustion
        { 0.9, 1000, 1000, 0, 0, 1, null },                        // all good
    };

    [Theory]
    [MemberData(nameof(BudgetCases))]
    public void ComputeBudget_HandComputedCases_MatchArithmetic(
        double objective, double good, double total, double? lastHourErrorRatio,
        double consumedRatio, double remainingRatio, double? hoursToExhaustion)
    {
        var spec = Slos.Availability(objective: objective);

        var budget = SloEvaluator.ComputeBudget(spec, new GoodTotal(good, total), lastHourErrorRatio);

        Assert.Equal(consumedRatio, budget.ConsumedRatio, 9);
        Assert.Equal(remainingRatio, budget.RemainingRatio, 9);
        Assert.Equal(total - good, budget.Consumed, 9);
        Assert.Equal((1 - objective) * total, budget.Total, 9);
        if (hoursToExhaustion is null)
        {
            Assert.Null(budget.TimeToExhaustion);
        }
        else
        {
            Assert.Equal(hoursToExhaustion.Value, budget.TimeToExhaustion!.Value.TotalHours, 6);
        }
    }

    public static TheoryData<int, int, int, double, double, double> SteadyTrafficCases => new()
    {
        // minutes, good/min, bad/min → SLI, burn rate 1h, burn rate 5m   (objective 99.9%)
        { 120, 999, 1, 0.999, 1, 1 },
        { 90, 990, 10, 0.99, 10, 10 },
        { 30, 0, 50, 0, 1000, 1000 },          // 100% bad
        { 10, 100, 0, 1, 0, 0 },
    };

    [Theory]
    [MemberData(nameof(SteadyTrafficCases))]
    public void Evaluate_SteadyTraffic_SliAndBurnRatesMatchHandComputation(
        int minutes, int good, int bad, double sli, double burn1h, double burn5m)
    {
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Slos.Availability()], clock);

        var status = Slos.Drive(clock, evaluator, minutes, good, bad)[^1][0];

        Assert.Equal(SloDataState.Ok, status.DataState);
        Assert.Equal(sli, status.Sli!.Value, 9);
        Assert.Equal((double)minutes * (good + bad), status.WindowCounts.Total);
        Assert.Equal(burn1h, status.BurnRate(Hour)!.BurnRate, 6);
        Assert.Equal(burn5m, status.BurnRate(TimeSpan.FromMinutes(5))!.BurnRate, 6);
        Assert.Equal(1 - burn1h, status.ErrorBudget.RemainingRatio, 6);   // the window holds only this traffic
    }

    [Fact]
    public void Evaluate_ZeroTraffic_ReportsNoDataFullBudgetAndNoAlerts()
    {
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Slos.Availability()], clock);

        var status = Slos.Drive(clock, evaluator, 30, 0, 0)[^1][0];

        Assert.Equal(SloDataState.NoData, status.DataState);
        Assert.Equal("no requests in the window", status.NoDataReason);
        Assert.Null(status.Sli);
        Assert.Equal(1, status.ErrorBudget.RemainingRatio);
        Assert.Null(status.ErrorBudget.TimeToExhaustion);
        Assert.All(status.BurnRates, b => Assert.Null(b.ErrorRatio));
        Assert.Equal(AlertState.Inactive, status.Page.State);
    }

    [Fact]
    public void Evaluate_OldTrafficLeftShortWindows_ShortWindowsEmptyLongWindowKeepsIt()
    {
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Slos.Availability()], clock);
        Slos.Drive(clock, evaluator, 10, 90, 10);

        var status = Slos.Drive(clock, evaluator, 120, 0, 0)[^1][0];

        Assert.Null(status.BurnRate(Hour)!.ErrorRatio);
        Assert.Equal(0.1, status.BurnRate(TimeSpan.FromHours(6))!.ErrorRatio!.Value, 9);
        Assert.Equal(0.9, status.Sli!.Value, 9);
    }

    [Fact]
    public void IngestCumulative_CounterReset_CountsTheNewValueAsTheIncrease()
    {
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Slos.Availability()], clock);
        (long Good, long Bad)[] samples = [(100, 0), (200, 10), (50, 5), (150, 5)];   // the third is after a restart of the exporter

        foreach (var (good, bad) in samples)
        {
            clock.Advance(TimeSpan.FromMinutes(1));
            evaluator.IngestCumulative("avail", good, bad);
        }

        var status = evaluator.Evaluate()[0];
        Assert.Equal(new GoodTotal(100 + 100 + 50 + 100, 100 + 110 + 55 + 100), status.WindowCounts);
    }

    [Fact]
    public void Record_ClientSideFailures_AreNotCountedForAvailability()
    {
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Slos.Availability()], clock);
        foreach (var error in Enum.GetValues<InferenceError>())
        {
            evaluator.Record(error == InferenceError.None ? Slos.Success() : Slos.Failure(error));
        }

        evaluator.Record(Slos.Success(model: "other"));

        var counter = Assert.Single(evaluator.GetCounters());
        Assert.Equal(1, counter.Good);
        Assert.Equal(5, counter.Bad);   // model not ready, queue full, queue timeout, draining, runtime failure
        Assert.Equal(SloMetricNames.Events, counter.MetricName);
    }

    [Theory]
    [InlineData(LatencyPhase.Compute, 10, 50, SloEventOutcome.Good)]
    [InlineData(LatencyPhase.Compute, 50, 50, SloEventOutcome.Good)]        // at the threshold is good
    [InlineData(LatencyPhase.Compute, 51, 50, SloEventOutcome.Bad)]
    [InlineData(LatencyPhase.EndToEnd, 46, 50, SloEventOutcome.Bad)]        // end to end = compute + 5 ms
    [InlineData(LatencyPhase.ComputeInfer, 60, 50, SloEventOutcome.Good)]   // infer = 0.8 × compute
    public void Classify_Latency_JudgesTheChosenPhase(LatencyPhase phase, double computeMs, double thresholdMs, SloEventOutcome expected)
    {
        var outcome = SloEventClassifier.Classify(Slos.Latency(phase: phase, thresholdMs: thresholdMs), Slos.Success(computeMs: computeMs));

        Assert.Equal(expected, outcome);
    }

    [Fact]
    public void Classify_LatencyOfAFailedRequest_IsNotCounted()
    {
        Assert.Equal(SloEventOutcome.NotCounted,
            SloEventClassifier.Classify(Slos.Latency(), Slos.Failure(InferenceError.RuntimeFailure)));
    }

    [Fact]
    public void Evaluate_FastBurn_PagesAndTicketsAtTheMinutesTheMathsPredictsThenResolves()
    {
        // Objective 99.9%: page when the 1h and 5m error ratios exceed 14.4 × 0.001 = 0.0144.
        // 1000 requests/min; 6 h clean, then 2% bad: after m bad minutes the 1h ratio is 20m / 60000 > 0.0144 ⇔ m ≥ 44,
        // so the page is pending at m = 44 and fires (for: 2m) at m = 46. The ticket's 3d/6h condition (> 0.001) holds
        // when 20m / 360000 > 0.001 ⇔ m ≥ 19: pending at 19, firing (for: 15m) at 34.
        // After 60 bad minutes traffic is clean again: k minutes later the 5m window holds 20(5 − k) bad of 5000,
        // above 0.0144 only for k ≤ 1, so the page resolves at k = 2.
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Slos.Availability()], clock);
        var transitions = new List<AlertTransition>();
        evaluator.AlertTransitioned += transitions.Add;
        Slos.Drive(clock, evaluator, 360, 1000, 0);
        var burnStart = clock.GetUtcNow();

        var burning = Slos.Drive(clock, evaluator, 60, 980, 20).Select(s => s[0]).ToList();
        var recovering = Slos.Drive(clock, evaluator, 5, 1000, 0).Select(s => s[0]).ToList();

        Assert.Equal(AlertState.Inactive, burning[42].Page.State);          // m = 43
        Assert.Equal(AlertState.Pending, burning[43].Page.State);           // m = 44
        Assert.Equal(AlertState.Pending, burning[44].Page.State);
        Assert.Equal(AlertState.Firing, burning[45].Page.State);            // m = 46
        Assert.Equal(AlertState.Inactive, burning[17].Ticket.State);        // m = 18
        Assert.Equal(AlertState.Pending, burning[18].Ticket.State);         // m = 19
        Assert.Equal(AlertState.Firing, burning[33].Ticket.State);          // m = 34
        Assert.Equal(AlertState.Firing, recovering[0].Page.State);          // k = 1
        Assert.Equal(AlertState.Resolved, recovering[1].Page.State);        // k = 2
        Assert.Equal(AlertState.Firing, recovering[4].Ticket.State);
        var page = transitions.Where(t => t.Severity == AlertSeverity.Page).Select(t => (t.From, t.To, t.At - burnStart)).ToList();
        Assert.Equal(
            [
                (AlertState.Inactive, AlertState.Pending, TimeSpan.FromMinutes(44)),
                (AlertState.Pending, AlertState.Firing, TimeSpan.FromMinutes(46)),
                (AlertState.Firing, AlertState.Resolved, TimeSpan.FromMinutes(62)),
            ], page);
        Assert.Equal(burnStart + TimeSpan.FromMinutes(44), recovering[1].Page.FiredAt - TimeSpan.FromMinutes(2));
    }

    [Fact]
    public void Evaluate_ResourceGaugeAboveThreshold_CountsBadSlices()
    {
        var spec = new SloSpec
        {
            Name = "mem", Model = "m", Objective = 1 - (5.0 / 1440), Window = TimeSpan.FromDays(1),
            BudgetingMethod = BudgetingMethod.Timeslices,
            Sli = new ResourceSli("process_memory_utilization", 0.85, TimeSpan.FromMinutes(5)),
        };
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([spec], clock);

        IReadOnlyList<SloStatus> statuses = [];
        for (int minute = 0; minute < 60; minute++)
        {
            evaluator.RecordGauge("process_memory_utilization", 0.5);
            evaluator.RecordGauge("process_memory_utilization", minute is >= 10 and < 13 ? 0.9 : 0.6);
            evaluator.RecordGauge("gpu_utilization", 1.0);   // another gauge: ignored
            clock.Advance(TimeSpan.FromMinutes(1));
            statuses = evaluator.Evaluate();
        }

        var status = statuses[0];
        Assert.Equal(new GoodTotal(57, 60), status.WindowCounts);
        Assert.Equal(57.0 / 60, status.Sli!.Value, 12);
        Assert.Equal(3.0 / 60 / (5.0 / 1440), status.ErrorBudget.ConsumedRatio, 9);
        var counter = Assert.Single(evaluator.GetCounters());
        Assert.Equal((57, 3), (counter.Good, counter.Bad));
        Assert.Equal(SloMetricNames.Timeslices, counter.MetricName);
    }

    [Fact]
    public void Evaluate_ThroughputWithoutPeak_ReportsNoDataAndNeverInventsAPeak()
    {
        var spec = new SloSpec
        {
            Name = "tput", Model = "m", Objective = 0.95, Window = TimeSpan.FromDays(1),
            BudgetingMethod = BudgetingMethod.Timeslices, Sli = new ThroughputSli(0.7, new LoadCondition(1, 0.5)),
        };
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([spec], clock);

        for (int i = 0; i < 600; i++)
        {
            evaluator.RecordExecution(new ExecutionOutcome("m", 8, true, Backlogged: true));
        }

        clock.Advance(TimeSpan.FromMinutes(1));
        var status = evaluator.Evaluate()[0];

        Assert.Equal(SloDataState.NoData, status.DataState);
        Assert.Contains("no peak measured", status.NoDataReason);
        Assert.Equal(0, status.WindowCounts.Total);
    }

    [Fact]
    public void Evaluate_ThroughputWithPeak_JudgesLoadedSlicesOnly()
    {
        var spec = new SloSpec
        {
            Name = "tput", Model = "m", Objective = 0.95, Window = TimeSpan.FromDays(1),
            BudgetingMethod = BudgetingMethod.Timeslices, Sli = new ThroughputSli(0.7, new LoadCondition(1, 0.5)),
        };
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([spec], clock);
        evaluator.SetPeak("m", 100);   // 70% of peak = 70 inferences/s = 4200 per minute

        RunSlice(executions: 600, batch: 8, backlogged: true);    // 4800/min = 80/s: good
        RunSlice(executions: 500, batch: 8, backlogged: true);    // 4000/min ≈ 66.7/s: bad
        RunSlice(executions: 500, batch: 8, backlogged: false);   // not saturated: no data
        var status = RunSlice(executions: 0, batch: 0, backlogged: false);   // idle: no data

        Assert.Equal(new GoodTotal(1, 2), status.WindowCounts);
        Assert.Equal(SloDataState.Ok, status.DataState);

        SloStatus RunSlice(int executions, int batch, bool backlogged)
        {
            for (int i = 0; i < executions; i++)
            {
                evaluator.RecordExecution(new ExecutionOutcome("m", batch, PreferredSize: true, backlogged));
            }

            clock.Advance(TimeSpan.FromMinutes(1));
            return evaluator.Evaluate()[0];
        }
    }

    [Fact]
    public void Evaluate_BatchingAverageSize_GoodWhenAtLeastTheMinimum()
    {
        var spec = new SloSpec
        {
            Name = "batch", Model = "m", Objective = 0.9, Window = TimeSpan.FromDays(1),
            BudgetingMethod = BudgetingMethod.Timeslices, Sli = new BatchingSli(BatchingMeasure.AverageBatchSize, 4, new LoadCondition(0.1, 0)),
        };
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([spec], clock);

        foreach (var sizes in new[] { new[] { 4, 4, 8 }, [2, 4, 4], [1] })   // averages 5.33 (good), 3.33 (bad); 1/60 per s is below the load floor of 0.1/s
        {
            foreach (var size in sizes)
            {
                evaluator.RecordExecution(new ExecutionOutcome("m", size, size == 4, false));
            }

            clock.Advance(TimeSpan.FromMinutes(1));
            evaluator.Evaluate();
        }

        Assert.Equal(new GoodTotal(1, 2), evaluator.Statuses[0].WindowCounts);
    }
}

public sealed class SloEvaluatorExecutionTotalsTests
{
    [Fact]
    public void RecordExecutions_AggregatedTotals_JudgeTheSliceLikeSingleExecutions()
    {
        var spec = new SloSpec
        {
            Name = "batch", Model = "m", Objective = 0.9, Window = TimeSpan.FromDays(1),
            BudgetingMethod = BudgetingMethod.Timeslices, Sli = new BatchingSli(BatchingMeasure.BatchHitRate, 0.75, new LoadCondition(1, 0)),
        };
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([spec], clock);

        evaluator.RecordExecutions("m", inferences: 800, executions: 100, preferredSizeExecutions: 80, backloggedExecutions: 0);   // hit rate 0.8
        clock.Advance(TimeSpan.FromMinutes(1));
        evaluator.Evaluate();
        evaluator.RecordExecutions("m", inferences: 800, executions: 100, preferredSizeExecutions: 70, backloggedExecutions: 0);   // 0.7
        clock.Advance(TimeSpan.FromMinutes(1));
        var status = evaluator.Evaluate()[0];

        Assert.Equal(new GoodTotal(1, 2), status.WindowCounts);
    }
}
