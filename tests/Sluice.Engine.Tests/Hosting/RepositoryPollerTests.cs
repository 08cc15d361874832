using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Sluice.Engine.Hosting;
using Sluice.Engine.Tests.TestSupport;

namespace Sluice.Engine.Tests.Hosting;

public sealed class RepositoryPollerTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ExecuteAsync_IntervalElapses_LoadsNewVersionAndRetiresTheOld()
    {
        using var repo = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(repo.Path, "m", "1"));
        await File.WriteAllTextAsync(Path.Combine(repo.Path, "m", "1", "model.onnx"), "v1");
        var time = new FakeTimeProvider();
        var backend = new FakeBackend(FakeBackend.AddOneSignature);
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Poll, backend, time: time);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);
        using var poller = new RepositoryPoller(manager, time, NullLogger<RepositoryPoller>.Instance);
        await poller.StartAsync(CancellationToken.None);
        Directory.CreateDirectory(Path.Combine(repo.Path, "m", "2"));
        await File.WriteAllTextAsync(Path.Combine(repo.Path, "m", "2", "model.onnx"), "v2");

        // Advance the fake clock until the poller (whose delay may start after our first advance) has rescanned.
        await Requests.WaitUntilAsync(() =>
        {
            time.Advance(manager.Options.PollInterval);
            return manager.IsModelReady("m", "2");
        }, Safety, "version 2 loaded by the poller");
        await poller.StopAsync(CancellationToken.None).WaitAsync(Safety);

        Assert.False(manager.IsModelReady("m", "1"));
        var oldRunner = backend.Runners.First();
        await Requests.WaitUntilAsync(() => oldRunner.Disposed, Safety, "version 1 runner disposed");
    }

    [Fact]
    public async Task ExecuteAsync_ControlModeNone_DoesNotPoll()
    {
        using var repo = new TempDirectory();
        var time = new FakeTimeProvider();
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.None, new FakeBackend(FakeBackend.AddOneSignature), time: time);
        using var poller = new RepositoryPoller(manager, time, NullLogger<RepositoryPoller>.Instance);
        await poller.StartAsync(CancellationToken.None);
        Directory.CreateDirectory(Path.Combine(repo.Path, "m", "1"));
        await File.WriteAllTextAsync(Path.Combine(repo.Path, "m", "1", "model.onnx"), "v1");

        time.Advance(TimeSpan.FromMinutes(1));
        await poller.ExecuteTask!.WaitAsync(Safety);

        Assert.False(manager.IsModelReady("m", null));
    }
}
