using Sluice.Bench.Clients;
using Sluice.Bench.Load;

namespace Sluice.Bench.Tests.Load;

public sealed class LoadGeneratorTests
{
    /// <summary>A client whose requests all wait on one gate; counts how many were started.</summary>
    private sealed class GatedClient : IInferClient
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _started;

        public int Started => Volatile.Read(ref _started);

        public string Protocol => "gated";

        public void Open() => _gate.TrySetResult();

        public async ValueTask<InferOutcome> InferAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _started);
            await _gate.Task.WaitAsync(cancellationToken);
            return new InferOutcome(true, "200", null);
        }

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task RunAsync_OpenLoopAtInFlightLimit_DropsAndCountsFurtherSends()
    {
        using var client = new GatedClient();
        var generator = new LoadGenerator(client) { MaxInFlight = 5 };

        // 50 sends due within 25 ms while no response returns: the open loop keeps sending by the clock up to the limit.
        var run = generator.RunAsync(LoadLevel.Open(2000), MeasurementWindow.Count(50), CancellationToken.None);
        while (client.Started < 5)
        {
            await Task.Yield();
        }

        await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(2)));   // the scheduler must finish its 50 slots without any response
        Assert.False(run.IsCompleted);   // it still awaits the 5 outstanding requests
        client.Open();
        var window = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(5, client.Started);
        Assert.Equal(5, window.Recorder.Sent);
        Assert.Equal(45, window.Recorder.DroppedSends);
        Assert.Equal(5, window.Recorder.Successes);
    }

    [Fact]
    public async Task RunAsync_ClosedLoop_KeepsExactlyConcurrencyInFlight()
    {
        using var client = new GatedClient();
        var generator = new LoadGenerator(client);

        var run = generator.RunAsync(LoadLevel.Closed(7), MeasurementWindow.Count(20), CancellationToken.None);
        while (client.Started < 7)
        {
            await Task.Yield();
        }

        Assert.Equal(7, client.Started);   // no eighth request before one of the seven returns
        client.Open();
        var window = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(20, window.Recorder.Successes);
        Assert.Equal(20, client.Started);
    }
}
