using System.Diagnostics;
using Sluice.Core.Inference;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Evaluation;

/// <summary>What evaluating N SLOs costs.</summary>
/// <param name="SloCount">SLOs evaluated.</param>
/// <param name="Evaluations">Evaluations run.</param>
/// <param name="CpuPerEvaluation">Process CPU time per evaluation of all SLOs.</param>
/// <param name="EvaluationInterval">The interval the engine evaluates at.</param>
/// <param name="CpuPerSecond">CPU time per wall-clock second at that interval.</param>
public sealed record SloEvaluationCost(int SloCount, int Evaluations, TimeSpan CpuPerEvaluation, TimeSpan EvaluationInterval, TimeSpan CpuPerSecond)
{
    /// <summary>The share of one core (0.01 = 1%).</summary>
    public double CoreShare => CpuPerSecond.TotalSeconds;
}

/// <summary>Measures evaluation cost, for the benchmarks project (BENCHMARKS.md: "evaluating 100 SLOs costs under 1% of one core").</summary>
public static class SloBenchmark
{
    /// <summary>
    /// Builds <paramref name="sloCount"/> latency and availability SLOs with 30-day windows whose buckets are full (the worst case
    /// for window sums), then repeatedly records a burst of requests and evaluates them, each evaluation one
    /// <see cref="SloEvaluator.DefaultEvaluationInterval"/> later on a manual clock, for <paramref name="duration"/> of wall time.
    /// Returns the CPU time per second of real operation at the default interval.
    /// </summary>
    public static SloEvaluationCost MeasureEvaluationCost(int sloCount, TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sloCount, 1);
        var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var slos = Enumerable.Range(0, sloCount).Select(i => new SloSpec
        {
            Name = $"slo-{i}",
            Model = $"model-{i % 10}",
            Objective = 0.999,
            Window = TimeSpan.FromDays(30),
            BudgetingMethod = BudgetingMethod.Occurrences,
            Sli = i % 2 == 0
                ? new LatencySli(LatencyPhase.Compute, TimeSpan.FromMilliseconds(50))
                : new AvailabilitySli(AvailabilitySli.ServerSideFailures),
        }).ToList();
        var evaluator = new SloEvaluator(slos, clock);

        // :: Fill 30 days of history so every window sum touches full buckets.
        long now = BucketClock.BucketOf(clock.GetUtcNow());
        foreach (var slo in slos)
        {
            for (long bucket = now - CountBuckets.MinuteCapacity; bucket <= now; bucket++)
            {
                evaluator.RestoreMinute(slo.Name, bucket, 990, 1000);
            }

            for (long hour = (now / 60) - (30 * 24); hour < (now / 60) - 26; hour++)
            {
                evaluator.RestoreHour(slo.Name, hour, 59_000, 60_000);
            }
        }

        var outcome = new RequestOutcome("model-0", "1", InferenceError.None, TimeSpan.FromMilliseconds(20),
            TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(12), TimeSpan.FromMilliseconds(10), 4);
        evaluator.Evaluate();   // warm up (JIT)

        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        int evaluations = 0;
        while (wall.Elapsed < duration || evaluations == 0)
        {
            for (int i = 0; i < 100; i++)
            {
                evaluator.Record(outcome);
            }

            clock.Advance(SloEvaluator.DefaultEvaluationInterval);
            evaluator.Evaluate();
            evaluations++;
        }

        process.Refresh();
        var cpuPerEvaluation = (process.TotalProcessorTime - cpuBefore) / evaluations;
        var perSecond = cpuPerEvaluation / SloEvaluator.DefaultEvaluationInterval.TotalSeconds;
        return new SloEvaluationCost(sloCount, evaluations, cpuPerEvaluation, SloEvaluator.DefaultEvaluationInterval, perSecond);
    }

    /// <summary>A clock moved by hand (the library cannot use the testing package's FakeTimeProvider).</summary>
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
