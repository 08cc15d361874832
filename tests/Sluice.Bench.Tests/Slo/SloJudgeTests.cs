using Sluice.Bench.Clients;
using Sluice.Bench.Load;
using Sluice.Bench.Measurement;
using Sluice.Bench.Slo;
using Sluice.Slo.Spec;

namespace Sluice.Bench.Tests.Slo;

public sealed class SloJudgeTests
{
    private static IReadOnlyList<SloSpec> Spec(string phase, string threshold, double objective = 90)
    {
        var set = SloSpecLoader.Parse($$"""
            slos:
              - name: m-latency
                model: m
                objective: {{objective}}
                window: 1d
                budgeting: occurrences
                sli:
                  latency: {phase: {{phase}}, threshold: {{threshold}}}
              - name: other-model
                model: other
                objective: 99
                window: 1d
                budgeting: occurrences
                sli:
                  latency: {phase: end_to_end, threshold: 1ms}
            """, "slo.yaml");
        Assert.True(set.IsValid, string.Join("; ", set.Errors));
        return set.Slos;
    }

    private static StepResult Step(IEnumerable<(long ClientUs, ServerTiming? Timing)> requests, ServerStatistics? server = null, int failures = 0)
    {
        var recorder = new WindowRecorder();
        foreach (var (clientUs, timing) in requests)
        {
            recorder.Record(new InferOutcome(true, "200", timing), clientUs);
        }

        for (int i = 0; i < failures; i++)
        {
            recorder.Record(InferOutcome.Failed("503"), 0);
        }

        return new StepResult
        {
            Level = LoadLevel.Open(10), Recorder = recorder, Elapsed = TimeSpan.FromSeconds(1), Trials = 1, Stable = true,
            InferencesPerRequest = 1, Server = server,
        };
    }

    [Fact]
    public void Judge_EndToEnd_CountsClientLatenciesWithinThreshold()
    {
        var judge = new SloJudge(Spec("end_to_end", "10ms"), "m", null);
        // 95 requests at 5 ms, 5 at 20 ms: 95% within 10 ms.
        var step = Step(Enumerable.Repeat((5_000L, (ServerTiming?)null), 95).Concat(Enumerable.Repeat((20_000L, (ServerTiming?)null), 5)));

        var result = judge.Judge(step).Single();

        Assert.Equal("m-latency", result.Name);
        Assert.Equal(0.95, result.Attainment, 9);
        Assert.Equal("client", result.Source);
        Assert.True(result.Met);
    }

    [Fact]
    public void Judge_ComputeWithPerRequestTiming_UsesServerTimingNotClientLatency()
    {
        var judge = new SloJudge(Spec("compute", "1ms"), "m", null);
        // Slow clients (50 ms), but compute (input + infer + output) of 0.9 ms for 80 requests and 3 ms for 20.
        var fast = new ServerTiming(100, 100, 700, 100);
        var slow = new ServerTiming(100, 100, 2_800, 100);
        var step = Step(Enumerable.Repeat((50_000L, (ServerTiming?)fast), 80).Concat(Enumerable.Repeat((50_000L, (ServerTiming?)slow), 20)));

        var result = judge.Judge(step).Single();

        Assert.Equal(0.8, result.Attainment, 9);
        Assert.Equal("server-timing", result.Source);
        Assert.False(result.Met);   // 80% < 90%
    }

    [Fact]
    public void Judge_QueueWithoutTimingHeaders_FallsBackToStatisticsMean()
    {
        var judge = new SloJudge(Spec("queue", "2ms"), "m", null);
        var server = ServerStatistics.Zero with { Success = new StatDuration(10, 10_000_000), Queue = new StatDuration(10, 15_000_000) };   // 1.5 ms mean

        var result = judge.Judge(Step([(1_000, null)], server)).Single();

        Assert.Equal("server-stats-mean", result.Source);
        Assert.True(double.IsNaN(result.Attainment));
        Assert.True(result.Met);
    }

    [Fact]
    public void Judge_AnyFailure_MissesEvenWhenLatenciesHold()
    {
        var judge = new SloJudge(Spec("end_to_end", "10ms"), "m", null);

        var result = judge.Judge(Step(Enumerable.Repeat((1_000L, (ServerTiming?)null), 100), failures: 1)).Single();

        Assert.Equal(1.0, result.Attainment, 9);
        Assert.False(result.Met);
    }
}
