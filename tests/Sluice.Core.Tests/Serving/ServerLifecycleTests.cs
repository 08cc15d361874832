using Sluice.Core.Serving;

namespace Sluice.Core.Tests.Serving;

public sealed class ServerLifecycleTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task WaitForDrainAsync_NothingInFlight_CompletesAtOnce()
    {
        var lifecycle = new ServerLifecycle();

        lifecycle.BeginDrain();

        Assert.True(await lifecycle.WaitForDrainAsync(Safety, CancellationToken.None));
        Assert.True(lifecycle.IsDraining);
    }

    [Fact]
    public async Task WaitForDrainAsync_RequestInFlight_CompletesWhenItExits()
    {
        var lifecycle = new ServerLifecycle();
        Assert.True(lifecycle.TryEnter());
        lifecycle.BeginDrain();

        var drained = lifecycle.WaitForDrainAsync(Safety, CancellationToken.None);
        Assert.False(drained.IsCompleted);
        Assert.False(lifecycle.TryEnter());   // new work is refused while draining
        lifecycle.Exit();

        Assert.True(await drained.WaitAsync(Safety));
        Assert.Equal(0, lifecycle.InFlight);
    }

    [Fact]
    public async Task WaitForDrainAsync_RequestNeverFinishes_ReturnsFalseAfterTimeout()
    {
        var lifecycle = new ServerLifecycle();
        Assert.True(lifecycle.TryEnter());
        lifecycle.BeginDrain();

        Assert.False(await lifecycle.WaitForDrainAsync(TimeSpan.FromMilliseconds(50), CancellationToken.None));
        Assert.Equal(1, lifecycle.InFlight);
    }

    [Fact]
    public async Task TryEnter_ConcurrentWithBeginDrain_NeverLosesTheDrainSignal()
    {
        for (var round = 0; round < 200; round++)
        {
            var lifecycle = new ServerLifecycle();
            using var start = new Barrier(2);
            var worker = Task.Run(() =>
            {
                start.SignalAndWait();
                if (lifecycle.TryEnter())
                {
                    lifecycle.Exit();
                }
            });
            start.SignalAndWait();
            lifecycle.BeginDrain();
            await worker.WaitAsync(Safety);

            Assert.True(await lifecycle.WaitForDrainAsync(Safety, CancellationToken.None));
        }
    }
}
