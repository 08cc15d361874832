using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Core.Serving;
using Sluice.Core.Tensors;
using Sluice.Engine.Statistics;

namespace Sluice.Engine.Scheduling;

/// <summary>
/// The queue and dynamic batcher of one model version. Callers only enqueue; one background task (the loop) is the only reader
/// of the channel and the only user of the pending groups and idle-instance stack, so those need no lock.
/// </summary>
/// <remarks>
/// Each turn of the loop:
/// <list type="number">
/// <item>takes back instances whose batch finished, and drains new requests from the channel with <c>TryRead</c> into groups of
/// equal non-batch shape (only those share a batch);</item>
/// <item>drops cancelled requests and rejects those past their queue timeout;</item>
/// <item>while an instance is idle, asks <see cref="BatchFormer"/> about the group with the oldest request and dispatches the batch
/// to the instance, so N instances run N batches at once;</item>
/// <item>otherwise sleeps until an arrival, a finished batch, the batching delay or the next queue deadline.</item>
/// </list>
/// The queue is bounded by <c>max_queue_size</c> through <see cref="_queued"/>, counted from enqueue until the request leaves the
/// queue (dispatched, cancelled or timed out).
/// </remarks>
internal sealed class BatchingLoop : IAsyncDisposable
{
    /// <summary>How long a client is told to wait after a full queue.</summary>
    private static readonly TimeSpan QueueFullRetryAfter = TimeSpan.FromSeconds(1);

    /// <summary>Longest per-request timeout honoured, so deadline arithmetic cannot overflow.</summary>
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    /// <summary>The model's name, for responses and logs.</summary>
    private readonly string _modelName;

    /// <summary>The version's number as text, for responses.</summary>
    private readonly string _version;

    /// <summary>Decides batches; null when dynamic batching is off and every request runs alone.</summary>
    private readonly BatchFormer? _former;

    /// <summary>The queue's bound and timeout.</summary>
    private readonly QueuePolicyConfig _queuePolicy;

    /// <summary>True when inputs have a batch dimension (max_batch_size &gt; 0).</summary>
    private readonly bool _batched;

    /// <summary>The model's outputs in declared order, for the union of a batch's requested outputs.</summary>
    private readonly string[] _modelOutputs;

    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly RequestCounters _counters;
    private readonly VersionStatistics _statistics;

    /// <summary>Told of every executed batch (telemetry, SLO engine); empty when none are registered.</summary>
    private readonly IInferenceObserver[] _observers;

    /// <summary>The model's max_batch_size (0 when it does not batch), for <see cref="BatchExecution"/>.</summary>
    private readonly int _maxBatchSize;

    /// <summary>Batch sizes that count as a batching "hit": the preferred sizes, or the max when none are set.</summary>
    private readonly int[] _hitSizes;

    /// <summary>Requests from callers to the loop. Unbounded as a channel; bounded by <see cref="_queued"/>.</summary>
    private readonly Channel<PendingRequest> _channel =
        Channel.CreateUnbounded<PendingRequest>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });

    /// <summary>Requests in the queue (enqueued and not yet dispatched, cancelled or timed out). Any thread.</summary>
    private int _queued;

    /// <summary>Batch rows of the requests counted by <see cref="_queued"/>. Any thread.</summary>
    private long _queuedRows;

    /// <summary>
    /// Smoothed seconds per row of batches dispatched while more requests waited (exponential moving average), so the
    /// queue's drain rate under backlog; NaN until such a batch ran. Written by finishing batches, read by enqueuers: a
    /// double is read and written whole, and a lost update between two finishing batches only drops one sample.
    /// </summary>
    private double _backlogSecondsPerRow = double.NaN;

    /// <summary>Batches executing now. Any thread.</summary>
    private int _running;

    /// <summary>Pending requests by shape, in order of their first arrival. Loop only.</summary>
    private readonly List<RequestGroup> _groups = [];

    /// <summary>How many runner instances this version has.</summary>
    private readonly int _instanceCount;

    /// <summary>Instances with no batch running. Loop only.</summary>
    private readonly Stack<IModelRunner> _idle;

    /// <summary>Instances whose batch finished, handed back to the loop. Any thread.</summary>
    private readonly ConcurrentQueue<IModelRunner> _returned = new();

    /// <summary>The earliest queue deadline among pending requests (timestamp ticks); long.MaxValue when none. Loop only.</summary>
    private long _nextDeadline = long.MaxValue;

    /// <summary>1 when a cancel callback left a dead entry in a group. Any thread.</summary>
    private int _purgeNeeded;

    /// <summary>1 once a wake-up was asked for since the loop last looked. Any thread.</summary>
    private int _wakeRequested;

    /// <summary>Completed to wake the loop; replaced by the loop once completed.</summary>
    private TaskCompletionSource _wakeSource = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Wakes the loop when the batching delay or a queue deadline runs out.</summary>
    private readonly ITimer _timer;

    /// <summary>Set when stopping: no new requests, flush what is queued without waiting for fuller batches.</summary>
    private volatile bool _stopping;

    /// <summary>Set when the drain timed out: reject what is still queued and cancel running batches.</summary>
    private volatile bool _aborting;

    /// <summary>Cancels running batches when aborting.</summary>
    private readonly CancellationTokenSource _abort = new();

    /// <summary>The loop task.</summary>
    private Task? _loopTask;

    /// <summary>Enqueue timestamp of the last arrival the loop saw (<see cref="_timeProvider"/> ticks); loop-owned.</summary>
    private long _lastArrival;

    /// <summary>Smoothed gap between arrivals, in seconds (exponential moving average); loop-owned. Starts infinite: no rate yet.</summary>
    private double _meanArrivalGapSeconds = double.PositiveInfinity;

    public BatchingLoop(
        string modelName, long version, ModelConfig config, IReadOnlyList<IModelRunner> runners, TimeProvider timeProvider,
        ILogger logger, RequestCounters counters, VersionStatistics statistics, IReadOnlyList<IInferenceObserver>? observers = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(runners.Count);
        _modelName = modelName;
        _version = version.ToString(CultureInfo.InvariantCulture);
        _batched = config.MaxBatchSize > 0;
        _former = config.DynamicBatching is { } batching && config.MaxBatchSize > 0 ? new BatchFormer(config.MaxBatchSize, batching) : null;
        _queuePolicy = config.DynamicBatching?.DefaultQueuePolicy ?? new QueuePolicyConfig();
        _modelOutputs = config.Outputs.Select(o => o.Name).ToArray();
        _timeProvider = timeProvider;
        _logger = logger;
        _counters = counters;
        _statistics = statistics;
        _observers = observers is null ? [] : [.. observers];
        _maxBatchSize = config.MaxBatchSize;
        _hitSizes = config.DynamicBatching is { PreferredBatchSizes.Count: > 0 } dynamic
            ? [.. dynamic.PreferredBatchSizes]
            : [Math.Max(1, config.MaxBatchSize)];
        _idle = new Stack<IModelRunner>(runners.Reverse());
        _instanceCount = runners.Count;
        _timer = timeProvider.CreateTimer(static state => ((BatchingLoop)state!).Wake(), this, System.Threading.Timeout.InfiniteTimeSpan, System.Threading.Timeout.InfiniteTimeSpan);
    }

    /// <summary>Requests waiting in the queue now.</summary>
    public int QueuedCount => Volatile.Read(ref _queued);

    /// <summary>
    /// How long the rows queued now would take to drain, from the time per row of batches that ran under backlog, spread
    /// over the instances; null until such a batch ran. It leaves out what the running batches still have to do, so it
    /// errs short.
    /// </summary>
    public TimeSpan? ExpectedQueueWait
    {
        get
        {
            var secondsPerRow = Volatile.Read(ref _backlogSecondsPerRow);
            return double.IsNaN(secondsPerRow)
                ? null
                : TimeSpan.FromSeconds(Interlocked.Read(ref _queuedRows) * secondsPerRow / _instanceCount);
        }
    }

    /// <summary>Starts the loop task.</summary>
    public void Start() => _loopTask ??= Task.Run(RunLoopAsync);

    /// <summary>
    /// Puts a validated request in the queue. Throws <see cref="InferenceException"/> with <see cref="InferenceError.QueueFull"/>
    /// (and a <see cref="InferenceException.RetryAfter"/>) when the queue is at max_queue_size, or an
    /// <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> already fired. The returned request's
    /// <see cref="PendingRequest.Completion"/> completes with the response, an error, or cancellation while queued.
    /// </summary>
    public PendingRequest Enqueue(
        InferenceRequest request, IReadOnlyList<TensorData> orderedInputs, IReadOnlyList<string> outputNames, int rows,
        CancellationToken cancellationToken)
    {
        if (_stopping)
        {
            throw new InferenceException(InferenceError.ModelNotReady, $"model '{_modelName}' version {_version} is unloading")
            {
                RetryAfter = QueueFullRetryAfter,
            };
        }

        cancellationToken.ThrowIfCancellationRequested();

        // :: Step 1 — admission against the bound.
        if (Interlocked.Increment(ref _queued) > _queuePolicy.MaxQueueSize)
        {
            Interlocked.Decrement(ref _queued);
            _counters.Rejected();
            _statistics.RecordFailure(TimeSpan.Zero);
            _logger.QueueFull(_modelName, _version, _queuePolicy.MaxQueueSize);
            throw new InferenceException(
                InferenceError.QueueFull,
                $"model '{_modelName}' version {_version}: queue is full ({_queuePolicy.MaxQueueSize} requests waiting); retry later")
            {
                RetryAfter = QueueFullRetryAfter,
            };
        }

        // :: Step 2 — admission against the deadline: when the rows ahead would take longer to drain than this request may
        // wait, it would only time out in the queue. It is refused now, with a fast 503, instead of after its timeout.
        var timeout = QueueTimeout(request);
        if (ExpectedQueueWait is { } expected && expected > timeout)
        {
            Interlocked.Decrement(ref _queued);
            _counters.Rejected();
            _statistics.RecordFailure(TimeSpan.Zero);
            _logger.QueueWaitTooLong(_modelName, _version, expected.TotalMilliseconds, timeout.TotalMilliseconds);
            throw new InferenceException(
                InferenceError.QueueFull,
                $"model '{_modelName}' version {_version}: the queue holds about {expected.TotalMilliseconds:F0} ms of work, "
                + $"more than this request's {timeout.TotalMilliseconds:F0} ms queue timeout; retry later")
            {
                RetryAfter = TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling((expected - timeout).TotalSeconds))),
            };
        }

        Interlocked.Add(ref _queuedRows, rows);
        _counters.Admitted();

        // :: Step 3 — timestamps, deadline and shape key.
        var now = _timeProvider.GetTimestamp();
        var deadline = now + (long)(timeout.TotalSeconds * _timeProvider.TimestampFrequency);
        var shape = _batched && _former is not null ? ShapeKey.From(orderedInputs, batched: true) : ShapeKey.None;
        var pending = new PendingRequest(request, orderedInputs, outputNames, rows, shape, now, deadline, cancellationToken);
        request.Timestamps.Queued = Stopwatch.GetTimestamp();

        // :: Step 4 — cancellation while queued removes it; it then never reaches the runner.
        if (cancellationToken.CanBeCanceled)
        {
            pending.CancelRegistration = cancellationToken.UnsafeRegister(
                static (state, _) => ((BatchingLoop)((object[])state!)[0]).OnCancelled((PendingRequest)((object[])state)[1]),
                new object[] { this, pending });
        }

        // :: Step 5 — hand it to the loop.
        _channel.Writer.TryWrite(pending);
        Wake();
        return pending;
    }

    /// <summary>
    /// Stops taking requests, runs what is queued (without waiting for fuller batches) and waits for running batches. After
    /// <paramref name="drainTimeout"/> the rest is rejected and running batches are cancelled.
    /// </summary>
    /// <returns>True when everything drained in time.</returns>
    public async Task<bool> StopAsync(TimeSpan drainTimeout)
    {
        _stopping = true;
        Wake();
        if (_loopTask is null)
        {
            return true;
        }

        try
        {
            await _loopTask.WaitAsync(drainTimeout, _timeProvider).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            _aborting = true;
            await _abort.CancelAsync().ConfigureAwait(false);
            Wake();
            await _loopTask.ConfigureAwait(false);
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        await _timer.DisposeAsync().ConfigureAwait(false);
        _abort.Dispose();
    }

    private TimeSpan QueueTimeout(InferenceRequest request)
    {
        var timeout = _queuePolicy.DefaultTimeout;
        if (_queuePolicy.AllowTimeoutOverride
            && request.Parameters.TryGetValue("timeout", out var value)
            && TryGetMicroseconds(value, out var microseconds)
            && microseconds > 0)
        {
            timeout = TimeSpan.FromTicks(Math.Min(microseconds, (long)MaxTimeout.TotalMicroseconds) * 10);
        }

        return timeout > MaxTimeout ? MaxTimeout : timeout;
    }

    private static bool TryGetMicroseconds(object? value, out long microseconds)
    {
        microseconds = 0;
        try
        {
            switch (value)
            {
                case long or int or short or ulong or uint or ushort or byte or sbyte:
                    var number = Convert.ToDecimal(value, CultureInfo.InvariantCulture);
                    microseconds = number > long.MaxValue ? long.MaxValue : (long)number;
                    return true;
                case double or float or decimal:
                    var real = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                    if (double.IsNaN(real) || real < 0)
                    {
                        return false;
                    }

                    microseconds = real >= long.MaxValue ? long.MaxValue : (long)real;
                    return true;
                case string text:
                    return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out microseconds);
                default:
                    return long.TryParse(Convert.ToString(value, CultureInfo.InvariantCulture), NumberStyles.None, CultureInfo.InvariantCulture, out microseconds);
            }
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException)
        {
            return false;
        }
    }

    /// <summary>Wakes the loop. Any thread.</summary>
    private void Wake()
    {
        Interlocked.Exchange(ref _wakeRequested, 1);
        Volatile.Read(ref _wakeSource).TrySetResult();
    }

    /// <summary>The caller's token fired: if still queued, the request is cancelled here and the loop drops it.</summary>
    private void OnCancelled(PendingRequest pending)
    {
        if (!pending.TryMoveFromQueued(PendingState.Cancelled))
        {
            return;   // already dispatched, timed out or aborted: that outcome stands
        }

        Interlocked.Decrement(ref _queued);
        Interlocked.Add(ref _queuedRows, -pending.Rows);
        _counters.Cancelled();
        pending.Completion.TrySetCanceled(pending.RequestAborted);
        Interlocked.Exchange(ref _purgeNeeded, 1);
        Wake();
    }

    private async Task RunLoopAsync()
    {
        try
        {
            while (true)
            {
                // Arm the wake-up before looking, so a wake between looking and sleeping is not lost.
                if (_wakeSource.Task.IsCompleted)
                {
                    Volatile.Write(ref _wakeSource, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                }

                Interlocked.Exchange(ref _wakeRequested, 0);

                // :: Step 1 — instances back, arrivals in.
                while (_returned.TryDequeue(out var runner))
                {
                    _idle.Push(runner);
                }

                while (_channel.Reader.TryRead(out var pending))
                {
                    ObserveArrival(pending);
                    Add(pending);
                }

                // :: Step 2 — drop cancelled, reject expired (and everything, when aborting).
                var now = _timeProvider.GetTimestamp();
                if (_aborting)
                {
                    AbortQueued();
                }
                else if (Interlocked.Exchange(ref _purgeNeeded, 0) == 1 || now >= _nextDeadline)
                {
                    Purge(now);
                }

                // :: Step 3 — dispatch to idle instances.
                var wait = DispatchReady(now);
                AssertInvariants();

                if (_stopping && _groups.Count == 0 && Volatile.Read(ref _running) == 0 && !_channel.Reader.TryPeek(out _))
                {
                    break;
                }

                // :: Step 4 — sleep until something changes.
                if (_nextDeadline != long.MaxValue)
                {
                    var untilDeadline = _timeProvider.GetElapsedTime(now, Math.Max(now, _nextDeadline));
                    wait = wait == System.Threading.Timeout.InfiniteTimeSpan || untilDeadline < wait ? untilDeadline : wait;
                }

                if (Volatile.Read(ref _wakeRequested) == 1)
                {
                    continue;
                }

                if (wait != System.Threading.Timeout.InfiniteTimeSpan)
                {
                    _timer.Change(wait <= TimeSpan.Zero ? TimeSpan.FromTicks(1) : wait, System.Threading.Timeout.InfiniteTimeSpan);
                }

                await Volatile.Read(ref _wakeSource).Task.ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            _logger.LoopFaulted(_modelName, _version, e);
            _aborting = true;
            AbortQueued();
            throw;
        }
    }

    /// <summary>Instances are either idle, running a batch or on their way back; counts never go negative.</summary>
    [Conditional("DEBUG")]
    private void AssertInvariants()
    {
        Debug.Assert(Volatile.Read(ref _queued) >= 0, "queued count went negative");
        Debug.Assert(Volatile.Read(ref _running) >= 0, "running count went negative");
        Debug.Assert(_idle.Count + Volatile.Read(ref _running) <= _instanceCount, "more instances than were created");
        Debug.Assert(_groups.TrueForAll(g => g.Rows >= 0), "a group's row count went negative");
    }

    /// <summary>Updates the arrival-rate estimate that lets the batcher skip waits no companion request would fill.</summary>
    private void ObserveArrival(PendingRequest pending)
    {
        const double Smoothing = 0.2;
        if (_lastArrival != 0)
        {
            var gap = Math.Max(0, _timeProvider.GetElapsedTime(_lastArrival, pending.EnqueuedTimestamp).TotalSeconds) / Math.Max(1, pending.Rows);
            _meanArrivalGapSeconds = double.IsPositiveInfinity(_meanArrivalGapSeconds) ? gap : (1 - Smoothing) * _meanArrivalGapSeconds + Smoothing * gap;
        }

        _lastArrival = Math.Max(_lastArrival, pending.EnqueuedTimestamp);
    }

    /// <summary>Rows per second lately; a long silence since the last arrival lowers it, so one stale burst does not keep the batcher waiting.</summary>
    private double ArrivalRate(long now)
    {
        if (_lastArrival == 0)
        {
            return 0;
        }

        var sinceLast = _timeProvider.GetElapsedTime(_lastArrival, now).TotalSeconds;
        var gap = Math.Max(_meanArrivalGapSeconds, sinceLast);
        return gap <= 0 ? double.PositiveInfinity : 1 / gap;
    }

    private void Add(PendingRequest pending)
    {
        if (pending.State != PendingState.Queued)
        {
            return;
        }

        RequestGroup? group = null;
        foreach (var candidate in _groups)
        {
            if (candidate.Shape.Equals(pending.Shape))
            {
                group = candidate;
                break;
            }
        }

        if (group is null)
        {
            group = new RequestGroup(pending.Shape);
            _groups.Add(group);
        }

        group.Items.Enqueue(pending);
        group.Rows += pending.Rows;
        if (pending.DeadlineTimestamp < _nextDeadline)
        {
            _nextDeadline = pending.DeadlineTimestamp;
        }
    }

    /// <summary>Removes cancelled entries, times out expired ones, recomputes the next deadline.</summary>
    private void Purge(long now)
    {
        _nextDeadline = long.MaxValue;
        for (var g = _groups.Count - 1; g >= 0; g--)
        {
            var group = _groups[g];
            var kept = new Queue<PendingRequest>(group.Items.Count);
            var rows = 0;
            foreach (var pending in group.Items)
            {
                if (pending.State != PendingState.Queued)
                {
                    continue;
                }

                if (pending.DeadlineTimestamp <= now)
                {
                    if (pending.TryMoveFromQueued(PendingState.TimedOut))
                    {
                        pending.CancelRegistration.Unregister();
                        Interlocked.Decrement(ref _queued);
                        Interlocked.Add(ref _queuedRows, -pending.Rows);
                        _counters.TimedOut();
                        var waited = _timeProvider.GetElapsedTime(pending.EnqueuedTimestamp, now);
                        _statistics.RecordFailure(waited);
                        _logger.RequestTimedOut(_modelName, waited.TotalMilliseconds);
                        pending.Completion.TrySetException(new InferenceException(
                            InferenceError.QueueTimeout,
                            $"model '{_modelName}' version {_version}: request waited {waited.TotalMilliseconds:F0} ms in the queue, past its timeout")
                        {
                            RetryAfter = QueueFullRetryAfter,
                        });
                    }

                    continue;
                }

                kept.Enqueue(pending);
                rows += pending.Rows;
                _nextDeadline = Math.Min(_nextDeadline, pending.DeadlineTimestamp);
            }

            if (kept.Count == 0)
            {
                _groups.RemoveAt(g);
            }
            else
            {
                group.Items = kept;
                group.Rows = rows;
            }
        }
    }

    /// <summary>Rejects everything still queued: the version stopped before it could run them.</summary>
    private void AbortQueued()
    {
        while (_channel.Reader.TryRead(out var pending))
        {
            Add(pending);
        }

        foreach (var group in _groups)
        {
            foreach (var pending in group.Items)
            {
                if (pending.TryMoveFromQueued(PendingState.Aborted))
                {
                    pending.CancelRegistration.Unregister();
                    Interlocked.Decrement(ref _queued);
                    Interlocked.Add(ref _queuedRows, -pending.Rows);
                    _counters.Failed();
                    _statistics.RecordFailure(_timeProvider.GetElapsedTime(pending.EnqueuedTimestamp));
                    pending.Completion.TrySetException(new InferenceException(
                        InferenceError.ModelNotReady, $"model '{_modelName}' version {_version} was unloaded before the request ran")
                    {
                        RetryAfter = QueueFullRetryAfter,
                    });
                }
            }
        }

        _groups.Clear();
        _nextDeadline = long.MaxValue;
    }

    /// <summary>Dispatches batches while instances are idle; returns how long to wait for the next batching decision.</summary>
    private TimeSpan DispatchReady(long now)
    {
        var wait = System.Threading.Timeout.InfiniteTimeSpan;
        while (_idle.Count > 0 && _groups.Count > 0)
        {
            // The group whose oldest live request is oldest goes first; groups that must wait yield to ones ready now.
            RequestGroup? ready = null;
            var take = 0;
            foreach (var group in OrderByOldest())
            {
                if (_former is null)
                {
                    ready = group;
                    take = 1;
                    break;
                }

                var decision = _former.Decide(
                    group.Rows, _timeProvider.GetElapsedTime(group.Items.Peek().EnqueuedTimestamp, now), flush: _stopping, ArrivalRate(now));
                if (decision.RunNow)
                {
                    ready = group;
                    take = decision.Take;
                    break;
                }

                if (wait == System.Threading.Timeout.InfiniteTimeSpan || decision.WaitBeforeRetry < wait)
                {
                    wait = decision.WaitBeforeRetry;
                }
            }

            if (ready is null)
            {
                return wait;
            }

            var batch = Take(ready, take, singleRequest: _former is null, out var rows);
            if (ready.Items.Count == 0)
            {
                _groups.Remove(ready);
            }

            if (batch.Count > 0)
            {
                var runner = _idle.Pop();
                var backlogged = Volatile.Read(ref _queued) > 0;   // requests left behind: this batch is as large as the queue allows
                Interlocked.Increment(ref _running);
                _ = runner.Scheduler is { } scheduler   // a GPU instance's own thread: straight there, not via the pool
                    ? Task.Factory.StartNew(() => ExecuteAsync(runner, batch, rows, backlogged), CancellationToken.None, TaskCreationOptions.DenyChildAttach, scheduler).Unwrap()
                    : Task.Run(() => ExecuteAsync(runner, batch, rows, backlogged));
            }
        }

        return wait;
    }

    /// <summary>Groups with live requests, oldest head first (dead heads are dropped on the way).</summary>
    private List<RequestGroup> OrderByOldest()
    {
        for (var g = _groups.Count - 1; g >= 0; g--)
        {
            var group = _groups[g];
            while (group.Items.TryPeek(out var head) && head.State != PendingState.Queued)
            {
                group.Items.Dequeue();
                group.Rows -= head.Rows;
            }

            if (group.Items.Count == 0)
            {
                _groups.RemoveAt(g);
            }
        }

        if (_groups.Count > 1)
        {
            _groups.Sort(static (a, b) => a.Items.Peek().EnqueuedTimestamp.CompareTo(b.Items.Peek().EnqueuedTimestamp));
        }

        return _groups;
    }

    /// <summary>Takes requests in arrival order up to <paramref name="take"/> rows (at least one request).</summary>
    private List<PendingRequest> Take(RequestGroup group, int take, bool singleRequest, out int rows)
    {
        var batch = new List<PendingRequest>(singleRequest ? 1 : Math.Min(take, group.Items.Count));
        rows = 0;
        while (group.Items.TryPeek(out var head))
        {
            if (head.State == PendingState.Queued && batch.Count > 0 && rows + head.Rows > take)
            {
                break;
            }

            group.Items.Dequeue();
            group.Rows -= head.Rows;
            if (!head.TryMoveFromQueued(PendingState.Dispatched))
            {
                continue;   // cancelled or timed out meanwhile: it never reaches the runner
            }

            head.CancelRegistration.Unregister();
            Interlocked.Decrement(ref _queued);
            Interlocked.Add(ref _queuedRows, -head.Rows);
            batch.Add(head);
            rows += head.Rows;
            if (singleRequest || rows >= take)
            {
                break;
            }
        }

        return batch;
    }

    /// <summary>Runs one batch on one instance, splits the outputs and completes each request.</summary>
    private async Task ExecuteAsync(IModelRunner runner, List<PendingRequest> batch, int rows, bool backlogged)
    {
        try
        {
            var started = _timeProvider.GetTimestamp();
            var batchStart = Stopwatch.GetTimestamp();
            foreach (var pending in batch)
            {
                pending.Request.Timestamps.BatchStart = batchStart;
                pending.Request.Timestamps.BatchSize = rows;
            }

            RunResult result;
            TensorData[][] outputs;
            try
            {
                var inputs = BatchAssembler.Concatenate(batch, rows);
                result = await runner.RunAsync(inputs, OutputUnion(batch), _abort.Token).ConfigureAwait(false);
                var byName = new Dictionary<string, TensorData>(result.Outputs.Count, StringComparer.Ordinal);
                foreach (var output in result.Outputs)
                {
                    byName[output.Name] = output;
                }

                outputs = new TensorData[batch.Count][];
                var offset = 0;
                for (var i = 0; i < batch.Count; i++)
                {
                    outputs[i] = BatchAssembler.Split(byName, batch[i], offset, batch[i].Rows, rows, wholeBatch: batch.Count == 1);
                    offset += batch[i].Rows;
                }
            }
            catch (Exception e)
            {
                Fail(batch, rows, e);
                return;
            }

            var outputEnd = Stopwatch.GetTimestamp();
            var timestamps = new RequestTimestamps[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                var t = batch[i].Request.Timestamps;
                t.ComputeInputEnd = result.ComputeInputEnd;
                t.ComputeInferEnd = result.ComputeInferEnd;
                t.ComputeOutputEnd = outputEnd;
                timestamps[i] = t;
            }

            _statistics.RecordBatch(timestamps, rows);
            if (backlogged)
            {
                ObserveBacklogBatch(rows, _timeProvider.GetElapsedTime(started));
            }

            for (var i = 0; i < batch.Count; i++)
            {
                var request = batch[i].Request;
                _counters.Succeeded();
                batch[i].Completion.TrySetResult(new InferenceResponse
                {
                    ModelName = _modelName,
                    ModelVersion = _version,
                    Id = request.Id,
                    Outputs = outputs[i],
                    Timestamps = request.Timestamps,
                });
            }

            NotifyBatchExecuted(rows, batchStart, result, outputEnd);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                _logger.BatchExecuted(_modelName, rows, Stopwatch.GetElapsedTime(batchStart, outputEnd).TotalMilliseconds);
            }
        }
        finally
        {
            _returned.Enqueue(runner);
            Interlocked.Decrement(ref _running);
            Wake();
        }
    }

    /// <summary>Folds one batch that ran under backlog into <see cref="_backlogSecondsPerRow"/> (weight 0.2 for the new sample).</summary>
    private void ObserveBacklogBatch(int rows, TimeSpan elapsed)
    {
        var sample = elapsed.TotalSeconds / Math.Max(1, rows);
        var previous = Volatile.Read(ref _backlogSecondsPerRow);
        Volatile.Write(ref _backlogSecondsPerRow, double.IsNaN(previous) ? sample : previous + 0.2 * (sample - previous));
    }

    /// <summary>Tells the observers of one executed batch; an observer that throws is not allowed to fail the batch.</summary>
    private void NotifyBatchExecuted(int rows, long batchStart, RunResult result, long outputEnd)
    {
        if (_observers.Length == 0)
        {
            return;
        }

        var execution = new BatchExecution(
            _modelName, _version, rows, _maxBatchSize, Array.IndexOf(_hitSizes, rows) >= 0, Backlogged: Volatile.Read(ref _queued) > 0,
            ComputeInput: Between(batchStart, result.ComputeInputEnd),
            ComputeInfer: Between(result.ComputeInputEnd, result.ComputeInferEnd),
            ComputeOutput: Between(result.ComputeInferEnd, outputEnd));
        foreach (var observer in _observers)
        {
            try
            {
                observer.BatchExecuted(in execution);
            }
            catch (Exception e)
            {
                _logger.ObserverFailed(observer.GetType().Name, e);
            }
        }

        static TimeSpan Between(long start, long end) =>
            start == 0 || end == 0 || end < start ? TimeSpan.Zero : Stopwatch.GetElapsedTime(start, end);
    }

    private void Fail(List<PendingRequest> batch, int rows, Exception exception)
    {
        InferenceException error;
        if (exception is InferenceException inference)
        {
            error = inference;
        }
        else if (exception is OperationCanceledException && _abort.IsCancellationRequested)
        {
            error = new InferenceException(InferenceError.ModelNotReady, $"model '{_modelName}' version {_version} was unloaded while the request ran");
        }
        else
        {
            _logger.BatchFailed(_modelName, _version, rows, exception);
            error = new InferenceException(InferenceError.RuntimeFailure, $"model '{_modelName}' version {_version}: the backend failed to run the batch");
        }

        foreach (var pending in batch)
        {
            _counters.Failed();
            _statistics.RecordFailure(_timeProvider.GetElapsedTime(pending.EnqueuedTimestamp));
            pending.Completion.TrySetException(error);
        }
    }

    /// <summary>The outputs any request of the batch asked for, in the model's order.</summary>
    private IReadOnlyList<string> OutputUnion(List<PendingRequest> batch)
    {
        if (batch.Count == 1)
        {
            return batch[0].OutputNames;
        }

        var wanted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pending in batch)
        {
            foreach (var name in pending.OutputNames)
            {
                wanted.Add(name);
            }
        }

        if (wanted.Count == _modelOutputs.Length)
        {
            return _modelOutputs;
        }

        return _modelOutputs.Where(wanted.Contains).ToArray();
    }

    /// <summary>Queued requests of one shape, in arrival order. Loop only.</summary>
    private sealed class RequestGroup(ShapeKey shape)
    {
        /// <summary>The non-batch shape all members share.</summary>
        public ShapeKey Shape { get; } = shape;

        /// <summary>The requests, oldest first; may hold dead (cancelled) entries until purged.</summary>
        public Queue<PendingRequest> Items { get; set; } = new();

        /// <summary>Rows of <see cref="Items"/>, dead entries included.</summary>
        public int Rows { get; set; }
    }
}
