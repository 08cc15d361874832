using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Engine.Hosting;
using Sluice.Engine.Tests.TestSupport;

namespace Sluice.Engine.Tests.Hosting;

public sealed class ModelManagerAccountingTests
{
    [Fact]
    public async Task InferAsync_BurstWithRandomCancels_AdmittedEqualsOutcomesAndNothingLeftInFlight()
    {
        using var repo = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(repo.Path, "m", "1"));
        await File.WriteAllTextAsync(Path.Combine(repo.Path, "m", "1", "model.onnx"), "v1");
        await File.WriteAllTextAsync(Path.Combine(repo.Path, "m", "config.yaml"), """
            max_batch_size: 4
            dynamic_batching: { max_queue_delay_microseconds: 500, default_queue_policy: { max_queue_size: 32 } }
            """);
        var backend = new FakeBackend(FakeBackend.AddOneSignature);
        await using var manager = Repos.Manager(repo.Path, backend: backend);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var runner = Assert.Single(backend.Runners);
        var warmUpRows = runner.Calls.Sum(c => c[0].Shape[0]);
        var outcomes = new System.Collections.Concurrent.ConcurrentBag<string>();

        await Parallel.ForEachAsync(Enumerable.Range(0, 300), new ParallelOptions { MaxDegreeOfParallelism = 12 }, async (i, _) =>
        {
            using var cts = new CancellationTokenSource();
            if (i % 3 == 0)
            {
                cts.CancelAfter(TimeSpan.FromTicks(i * 50));
            }

            try
            {
                await manager.InferAsync(Requests.AddOne("m", start: i), cts.Token).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
                outcomes.Add("ok");
            }
            catch (OperationCanceledException)
            {
                outcomes.Add("cancelled");
            }
            catch (InferenceException e)
            {
                outcomes.Add(e.Error.ToString());
            }
        });

        var counts = manager.GetRequestCounts("m", null);
        Assert.Equal(counts.Admitted, counts.Succeeded + counts.Failed + counts.Cancelled + counts.TimedOut);
        Assert.Equal(0, counts.InFlight);
        Assert.Equal(counts.Succeeded, outcomes.Count(o => o == "ok"));
        Assert.Equal(counts.Rejected, outcomes.Count(o => o == nameof(InferenceError.QueueFull)));
        Assert.Equal(0, counts.Failed);
        Assert.Equal(counts.Succeeded, runner.Calls.Sum(c => c[0].Shape[0]) - warmUpRows);
        Assert.Equal(0, manager.GetQueuedCount("m", null));
    }
}
