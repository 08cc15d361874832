using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Server.Slo;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Spec;

namespace Sluice.Server.Tests.Slo;

public sealed class SloInferenceObserverTests
{
    private static readonly FakeTimeProvider Clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 10, TimeSpan.Zero));

    private static SloSpec Latency(string model, string? version = null) => new()
    {
        Name = $"{model}-latency",
        Model = model,
        ModelVersion = version,
        Objective = 0.99,
        Window = TimeSpan.FromDays(1),
        BudgetingMethod = BudgetingMethod.Occurrences,
        Sli = new LatencySli(LatencyPhase.Compute, TimeSpan.FromMilliseconds(50)),
    };

    /// <summary>Timestamps whose compute phase (batch start → outputs split) lasts <paramref name="compute"/>.</summary>
    private static RequestTimestamps Computed(TimeSpan compute)
    {
        long start = Stopwatch.GetTimestamp();
        long end = start + (long)(compute.TotalSeconds * Stopwatch.Frequency);
        return new RequestTimestamps { Received = start, Queued = start, BatchStart = start, ComputeInputEnd = start, ComputeInferEnd = end, ComputeOutputEnd = end, ResponseSent = end, BatchSize = 1 };
    }

    [Fact]
    public void RequestCompleted_FastSlowAndFailed_CountsGoodAndBadOfThatModelOnly()
    {
        var evaluator = new SloEvaluator([Latency("ranker"), Latency("other")], Clock);
        var observer = new SloInferenceObserver(evaluator);

        observer.RequestCompleted(new RequestCompletion("ranker", "1", "http", InferenceError.None, Computed(TimeSpan.FromMilliseconds(10))));
        observer.RequestCompleted(new RequestCompletion("ranker", "1", "grpc", InferenceError.None, Computed(TimeSpan.FromMilliseconds(80))));
        observer.RequestCompleted(new RequestCompletion("ranker", "1", "http", InferenceError.RuntimeFailure, Computed(TimeSpan.FromMilliseconds(1))));

        var counters = evaluator.GetCounters();
        Assert.Equal((1, 1), (counters[0].Good, counters[0].Bad));   // the failure is availability's business, not latency's
        Assert.Equal((0, 0), (counters[1].Good, counters[1].Bad));
    }

    [Fact]
    public void RequestCompleted_EmptyVersion_MatchesAnSloOfAllVersionsButNotOfOne()
    {
        var evaluator = new SloEvaluator([Latency("ranker"), Latency("ranker", "2") with { Name = "ranker-v2" }], Clock);
        var observer = new SloInferenceObserver(evaluator);

        observer.RequestCompleted(new RequestCompletion("ranker", "", "http", InferenceError.None, Computed(TimeSpan.FromMilliseconds(10))));

        var counters = evaluator.GetCounters();
        Assert.Equal(1, counters[0].Good);
        Assert.Equal(0, counters[1].Good + counters[1].Bad);
    }

    [Fact]
    public void BatchExecuted_UnderLoadBelowMinimum_JudgesTheSliceBad()
    {
        var batching = new SloSpec
        {
            Name = "ranker-batching",
            Model = "ranker",
            Objective = 0.9,
            Window = TimeSpan.FromDays(1),
            BudgetingMethod = BudgetingMethod.Timeslices,
            TimesliceLength = TimeSpan.FromMinutes(1),
            Sli = new BatchingSli(BatchingMeasure.AverageBatchSize, 4, new LoadCondition(1, 0.5)),
        };
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var evaluator = new SloEvaluator([batching], clock);
        var observer = new SloInferenceObserver(evaluator);

        for (int i = 0; i < 120; i++)
        {
            observer.BatchExecuted(new BatchExecution("ranker", "1", BatchSize: 2, MaxBatchSize: 8, IsPreferredSize: false, Backlogged: true,
                TimeSpan.Zero, TimeSpan.FromMilliseconds(1), TimeSpan.Zero));
        }

        clock.Advance(TimeSpan.FromMinutes(1));
        evaluator.Evaluate();

        Assert.Equal((0, 1), (evaluator.GetCounters()[0].Good, evaluator.GetCounters()[0].Bad));   // 240 rows/min ≥ 1/s, average 2 < 4
    }
}
