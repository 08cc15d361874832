using System.Collections.Concurrent;

namespace Sluice.Onnx.Runtime;

/// <summary>
/// One long-lived thread that runs all of a GPU instance's work, in order, as Triton gives each model instance its own thread.
/// </summary>
/// <remarks>
/// ONNX Runtime's CUDA kernels keep per-thread state: the cuDNN attention (SDPA) plans that its fused attention ops build
/// per input shape live in <c>thread_local</c> caches, because cuDNN execution plans are not thread-safe. Run from whatever
/// thread-pool thread finished the previous await, every batch met a cold cache and rebuilt its plan: on an H200 that was
/// 40-110 ms a batch at concurrency 32, against 2 ms of compute. Pinning an instance to one thread makes each shape's plan
/// a one-time cost. The hop onto the thread costs microseconds, nothing beside a GPU batch.
/// </remarks>
internal sealed class InstanceThread : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;

    public InstanceThread(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        Scheduler = new InstanceScheduler(this);
        _thread.Start();
    }

    /// <summary>Runs tasks on this thread, in order; after <see cref="Dispose"/> they run on the thread pool instead.</summary>
    public TaskScheduler Scheduler { get; }

    /// <summary>Whether the caller is this instance's thread (work posted from it runs inline).</summary>
    public bool IsCurrent => Thread.CurrentThread == _thread;

    /// <summary>Runs <paramref name="work"/> on the instance thread; the task completes (off that thread) with its result.</summary>
    public Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var posted = TryPost(() =>
        {
            if (cancellationToken.IsCancellationRequested)
            {
                completion.TrySetCanceled(cancellationToken);
                return;
            }

            try
            {
                completion.TrySetResult(work());
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                completion.TrySetCanceled(cancellationToken);
            }
            catch (Exception e)
            {
                completion.TrySetException(e);
            }
        });
        if (!posted)
        {
            completion.TrySetException(new ObjectDisposedException(_thread.Name));
        }

        return completion.Task;
    }

    /// <summary>Queues work; false once the thread is ending (adding was completed).</summary>
    private bool TryPost(Action work)
    {
        try
        {
            _work.Add(work);
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            return false;
        }
    }

    private void Loop()
    {
        foreach (var item in _work.GetConsumingEnumerable())
        {
            item();
        }
    }

    /// <summary>
    /// A task queued here runs on the instance thread. A task queued after the thread ended still runs (on the pool), so work
    /// started on a stopping instance is never dropped: its run then fails with <see cref="ObjectDisposedException"/>.
    /// </summary>
    private sealed class InstanceScheduler(InstanceThread owner) : TaskScheduler
    {
        public override int MaximumConcurrencyLevel => 1;

        protected override void QueueTask(Task task)
        {
            if (!owner.TryPost(() => TryExecuteTask(task)))
            {
                ThreadPool.UnsafeQueueUserWorkItem(static state => state.Scheduler.TryExecuteTask(state.Task), (Scheduler: this, Task: task), preferLocal: false);
            }
        }

        protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => owner.IsCurrent && TryExecuteTask(task);

        protected override IEnumerable<Task>? GetScheduledTasks() => null;
    }

    /// <summary>Lets queued work finish, then ends the thread.</summary>
    public void Dispose()
    {
        _work.CompleteAdding();
        if (!IsCurrent)   // from its own thread (a run disposing its runner) the loop ends after this item
        {
            _thread.Join();
            _work.Dispose();
        }
    }
}
