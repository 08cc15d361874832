using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Tests.Runtime;

/// <summary>The per-instance thread: one thread, in order, with cancellation and failures carried in the task.</summary>
public sealed class InstanceThreadTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Run_ManyCallers_RunInPostingOrderOnOneThreadThatIsNoCallers()
    {
        using var thread = new InstanceThread("test-instance");
        var order = new List<int>();
        var threads = new HashSet<int>();

        var tasks = Enumerable.Range(0, 50).Select(i => thread.Run(() =>
        {
            order.Add(i);   // no lock: only the instance thread touches these
            threads.Add(Environment.CurrentManagedThreadId);
            return i;
        }, CancellationToken.None)).ToArray();
        var results = await Task.WhenAll(tasks).WaitAsync(Timeout);

        Assert.Equal(Enumerable.Range(0, 50), results);
        Assert.Equal(Enumerable.Range(0, 50), order);
        Assert.NotEqual(Environment.CurrentManagedThreadId, Assert.Single(threads));
    }

    [Fact]
    public async Task Run_CancelledBeforeItStarts_IsCancelledWithoutRunning()
    {
        using var thread = new InstanceThread("test-instance");
        using var gate = new ManualResetEventSlim();
        var blocker = thread.Run(() => gate.Wait(Timeout), CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var ran = false;

        var queued = thread.Run(() => ran = true, cts.Token);
        cts.Cancel();
        gate.Set();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued.WaitAsync(Timeout));
        Assert.True(await blocker.WaitAsync(Timeout));
        Assert.False(ran);
    }

    [Fact]
    public async Task Run_WorkThrows_FaultsItsTaskAndTheThreadGoesOn()
    {
        using var thread = new InstanceThread("test-instance");

        var failed = thread.Run<int>(() => throw new InvalidOperationException("boom"), CancellationToken.None);
        var next = thread.Run(() => 7, CancellationToken.None);

        Assert.Equal("boom", (await Assert.ThrowsAsync<InvalidOperationException>(() => failed.WaitAsync(Timeout))).Message);
        Assert.Equal(7, await next.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Scheduler_TasksStartedOnIt_RunInOrderOnTheInstanceThread()
    {
        using var thread = new InstanceThread("test-instance");
        var instanceThreadId = await thread.Run(() => Environment.CurrentManagedThreadId, CancellationToken.None).WaitAsync(Timeout);
        var seen = new List<(int Index, int Thread)>();

        var tasks = Enumerable.Range(0, 20).Select(i => Task.Factory.StartNew(
            () => seen.Add((i, Environment.CurrentManagedThreadId)),   // no lock: only the instance thread gets here
            CancellationToken.None, TaskCreationOptions.DenyChildAttach, thread.Scheduler)).ToArray();
        await Task.WhenAll(tasks).WaitAsync(Timeout);

        Assert.Equal(Enumerable.Range(0, 20), seen.Select(s => s.Index));
        Assert.All(seen, s => Assert.Equal(instanceThreadId, s.Thread));
    }

    [Fact]
    public async Task Scheduler_TaskQueuedAfterDispose_StillRunsOnThePool()
    {
        var thread = new InstanceThread("test-instance");
        thread.Dispose();

        var ran = await Task.Factory.StartNew(() => Thread.CurrentThread.IsThreadPoolThread, CancellationToken.None,
            TaskCreationOptions.DenyChildAttach, thread.Scheduler).WaitAsync(Timeout);

        Assert.True(ran);
    }

    [Fact]
    public async Task Dispose_FinishesQueuedWorkThenRefusesMore()
    {
        var thread = new InstanceThread("test-instance");
        var queued = thread.Run(() => { Thread.Sleep(50); return 1; }, CancellationToken.None);

        thread.Dispose();

        Assert.True(queued.IsCompletedSuccessfully);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => thread.Run(() => 2, CancellationToken.None).WaitAsync(Timeout));
    }
}
