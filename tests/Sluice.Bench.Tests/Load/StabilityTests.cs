using Sluice.Bench.Clients;
using Sluice.Bench.Load;
using Sluice.Bench.Measurement;

namespace Sluice.Bench.Tests.Load;

public sealed class StabilityTests
{
    private static WindowMeasurement Window(int successes, long latencyUs)
    {
        var recorder = new WindowRecorder();
        for (int i = 0; i < successes; i++)
        {
            recorder.Record(new InferOutcome(true, "200", null), latencyUs);
        }

        return new WindowMeasurement(recorder, TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void IsStable_ThroughputAndP99WithinPercentage_True() =>
        Assert.True(BenchRunner.IsStable([Window(100, 1000), Window(105, 1040), Window(96, 980)], 10));

    [Fact]
    public void IsStable_ThroughputVariesTooMuch_False() =>
        Assert.False(BenchRunner.IsStable([Window(100, 1000), Window(130, 1000), Window(100, 1000)], 10));

    [Fact]
    public void IsStable_P99VariesTooMuch_False() =>
        Assert.False(BenchRunner.IsStable([Window(100, 1000), Window(100, 1500), Window(100, 1000)], 10));
}
