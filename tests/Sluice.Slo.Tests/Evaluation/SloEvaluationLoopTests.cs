using Microsoft.Extensions.Time.Testing;
using Sluice.Slo.Evaluation;
using Sluice.Slo.History;
using Sluice.Slo.Tests.TestSupport;

namespace Sluice.Slo.Tests.Evaluation;

public sealed class SloEvaluationLoopTests
{
    [Fact]
    public async Task RunAsync_Stopped_EvaluatesAndFlushesTheLastCounts()
    {
        using var temp = new TempDirectory();
        var path = temp.File("history.db");
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Slos.Availability()], clock);
        using (var history = SqliteSloHistory.Open(path, TimeSpan.FromDays(30)))
        {
            using var stop = new CancellationTokenSource();
            var loop = new SloEvaluationLoop(evaluator, history, clock, SloEvaluator.DefaultEvaluationInterval).RunAsync(stop.Token);
            for (int i = 0; i < 50; i++)
            {
                evaluator.Record(Slos.Success());
            }

            clock.Advance(TimeSpan.FromSeconds(20));
            await stop.CancelAsync();
            await loop.WaitAsync(TimeSpan.FromSeconds(10));
        }

        using var reopened = SqliteSloHistory.Open(path, TimeSpan.FromDays(30));
        var restored = new SloEvaluator([Slos.Availability()], clock);
        reopened.Restore(restored);
        Assert.Equal(50, restored.Evaluate()[0].WindowCounts.Total);
    }
}
