using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Engine.Scheduling;
using Sluice.Engine.Statistics;
using Sluice.Engine.Tests.TestSupport;
using Sluice.Engine.Validation;

namespace Sluice.Engine.Tests.Scheduling;

public sealed class BatchingLoopTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(20);

    private sealed class Harness : IAsyncDisposable
    {
        public Harness(ModelConfig config, int instances = 1, TimeProvider? time = null)
        {
            Config = config;
            Runners = Enumerable.Range(0, instances).Select(_ => new FakeRunner()).ToList();
            Statistics = new VersionStatistics(time ?? TimeProvider.System);
            Loop = new BatchingLoop("m", 1, config, Runners, time ?? TimeProvider.System, NullLogger.Instance, Counters, Statistics);
            Validator = new RequestValidator(config);
            Loop.Start();
        }

        public ModelConfig Config { get; }
        public List<FakeRunner> Runners { get; }
        public RequestCounters Counters { get; } = new();
        public VersionStatistics Statistics { get; }
        public BatchingLoop Loop { get; }
        public RequestValidator Validator { get; }

        public PendingRequest Enqueue(InferenceRequest request, CancellationToken cancellationToken = default)
        {
            var validated = Validator.Validate(request);
            return Loop.Enqueue(request, validated.OrderedInputs, validated.OutputNames, validated.Rows, cancellationToken);
        }

        public int RunnerCalls => Runners.Sum(r => r.Calls.Count);

        public async ValueTask DisposeAsync()
        {
            foreach (var runner in Runners)
            {
                runner.Gate?.TrySetResult();
            }

            await Loop.StopAsync(TimeSpan.FromSeconds(5));
            await Loop.DisposeAsync();
        }
    }

    private static ModelConfig Config(
        int maxBatch = 8, bool batching = true, int maxQueue = 1024, int delayMs = 0, int timeoutMs = 5000, long[]? dims = null) => new()
    {
        Name = "m",
        MaxBatchSize = maxBatch,
        Inputs = [new TensorConfig("INPUT0", DataType.Fp32, dims ?? [4])],
        Outputs = [new TensorConfig("OUTPUT0", DataType.Fp32, dims ?? [4])],
        DynamicBatching = batching
            ? new DynamicBatchingConfig
            {
                MaxQueueDelay = TimeSpan.FromMilliseconds(delayMs),
                DefaultQueuePolicy = new QueuePolicyConfig { MaxQueueSize = maxQueue, DefaultTimeout = TimeSpan.FromMilliseconds(timeoutMs) },
            }
            : null,
    };

    [Fact]
    public async Task Enqueue_LoneRequestWithNoArrivalHistory_RunsWithoutWaitingOutTheDelay()
    {
        var time = new FakeTimeProvider();   // never advanced: a wait for the 10 s delay would never end
        await using var harness = new Harness(Config(delayMs: 10_000), time: time);

        var response = await harness.Enqueue(Requests.AddOne("m", rows: 1)).Completion.Task.WaitAsync(Safety);

        Assert.Equal(1, response.Timestamps.BatchSize);
        Assert.Equal(1, harness.RunnerCalls);
    }

    [Fact]
    public async Task Enqueue_RunnerWithItsOwnScheduler_EveryBatchRunsOnItsThreadAndAnswersAreRight()
    {
        using var scheduler = new DedicatedThreadScheduler();
        await using var harness = new Harness(Config(maxBatch: 4));
        harness.Runners[0].PreferredScheduler = scheduler;

        var responses = await Task.WhenAll(Enumerable.Range(0, 12)
            .Select(i => harness.Enqueue(Requests.AddOne("m", rows: 1, start: i * 10)).Completion.Task)).WaitAsync(Safety);

        for (var i = 0; i < 12; i++)
        {
            Assert.Equal(Enumerable.Range(0, 4).Select(v => i * 10 + v + 1f), responses[i].Outputs[0].ToArray<float>());
        }

        var calls = harness.Runners[0].CallThreads.ToArray();
        Assert.All(calls, id => Assert.Equal(scheduler.ThreadId, id));
        Assert.Equal(calls.Length, scheduler.Queued);   // one task per batch, started there rather than hopping via the pool
    }

    [Fact]
    public async Task Enqueue_SingleRequest_ReturnsOutputAndTimestamps()
    {
        await using var harness = new Harness(Config());

        var response = await harness.Enqueue(Requests.AddOne("m", rows: 2, start: 10)).Completion.Task.WaitAsync(Safety);

        Assert.Equal("1", response.ModelVersion);
        Assert.Equal(Enumerable.Range(0, 8).Select(i => 11f + i), response.Outputs[0].ToArray<float>());
        Assert.Equal([2L, 4L], response.Outputs[0].Shape);
        var t = response.Timestamps;
        Assert.True(t.Queued > 0 && t.BatchStart >= t.Queued && t.ComputeOutputEnd >= t.BatchStart);
        Assert.Equal(2, t.BatchSize);
    }

    [Fact]
    public async Task Enqueue_WhileInstanceBusy_FormsOneBatchAndSplitsOutputsPerRequest()
    {
        await using var harness = new Harness(Config(maxBatch: 8));
        var runner = harness.Runners[0];
        runner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = harness.Enqueue(Requests.AddOne("m", start: 1000));
        await runner.Started.WaitAsync(Safety);

        var pending = Enumerable.Range(0, 3).Select(i => harness.Enqueue(Requests.AddOne("m", rows: i + 1, start: i * 100))).ToList();
        await Requests.WaitUntilAsync(() => harness.Loop.QueuedCount == 3, Safety, "three queued");
        runner.Gate.SetResult();
        var responses = await Task.WhenAll(pending.Select(p => p.Completion.Task)).WaitAsync(Safety);
        await blocker.Completion.Task.WaitAsync(Safety);

        Assert.Equal(2, runner.Calls.Count);
        Assert.Equal(6, runner.Calls.Last()[0].Shape[0]);   // 1 + 2 + 3 rows in one batch
        for (var i = 0; i < 3; i++)
        {
            var expected = Enumerable.Range(0, (i + 1) * 4).Select(v => i * 100 + v + 1f);
            Assert.Equal(expected, responses[i].Outputs[0].ToArray<float>());
            Assert.Equal(i + 1, responses[i].Outputs[0].Shape[0]);
            Assert.Equal(6, responses[i].Timestamps.BatchSize);
        }
    }

    [Fact]
    public async Task Enqueue_DifferentNonBatchShapes_NeverShareABatch()
    {
        await using var harness = new Harness(Config(maxBatch: 8, dims: [-1]));
        var runner = harness.Runners[0];
        runner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = harness.Enqueue(Request(len: 2));
        await runner.Started.WaitAsync(Safety);

        var pending = new[] { Request(3), Request(5), Request(3), Request(5), Request(3) }.Select(r => harness.Enqueue(r)).ToList();
        await Requests.WaitUntilAsync(() => harness.Loop.QueuedCount == 5, Safety, "five queued");
        runner.Gate.SetResult();
        await Task.WhenAll(pending.Select(p => p.Completion.Task)).WaitAsync(Safety);
        await blocker.Completion.Task.WaitAsync(Safety);

        var batches = runner.Calls.Skip(1).Select(c => c[0].Shape).ToList();
        Assert.Equal(2, batches.Count);
        Assert.Contains(batches, s => s[0] == 3 && s[1] == 3);
        Assert.Contains(batches, s => s[0] == 2 && s[1] == 5);

        static InferenceRequest Request(int len) => new()
        {
            ModelName = "m",
            Inputs = [TensorData.From<float>("INPUT0", [1, len], new float[len])],
        };
    }

    [Fact]
    public async Task Enqueue_BatchingOff_RunsEachRequestAlone()
    {
        await using var harness = new Harness(Config(batching: false));
        var runner = harness.Runners[0];
        runner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = harness.Enqueue(Requests.AddOne("m"));
        await runner.Started.WaitAsync(Safety);

        var pending = Enumerable.Range(0, 4).Select(_ => harness.Enqueue(Requests.AddOne("m"))).ToList();
        runner.Gate.SetResult();
        await Task.WhenAll(pending.Select(p => p.Completion.Task)).WaitAsync(Safety);
        await blocker.Completion.Task.WaitAsync(Safety);

        Assert.Equal(5, runner.Calls.Count);
        Assert.All(runner.Calls, c => Assert.Equal(1, c[0].Shape[0]));
    }

    [Fact]
    public async Task Enqueue_QueueFull_RejectsWithQueueFullAndRetryAfter()
    {
        await using var harness = new Harness(Config(maxQueue: 2));
        var runner = harness.Runners[0];
        runner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = harness.Enqueue(Requests.AddOne("m"));
        await runner.Started.WaitAsync(Safety);
        var queued = new[] { harness.Enqueue(Requests.AddOne("m")), harness.Enqueue(Requests.AddOne("m")) };

        var error = Assert.Throws<InferenceException>(() => harness.Enqueue(Requests.AddOne("m")));

        Assert.Equal(InferenceError.QueueFull, error.Error);
        Assert.NotNull(error.RetryAfter);
        Assert.Contains("queue is full", error.Message);
        Assert.Equal(1, harness.Counters.Snapshot().Rejected);
        runner.Gate.SetResult();
        await Task.WhenAll(queued.Select(p => p.Completion.Task)).WaitAsync(Safety);
    }

    /// <summary>Runs one batch on a gated runner for <paramref name="elapsed"/> of fake time; the next call meets a new gate.</summary>
    private static async Task FinishRunningBatchAsync(FakeRunner runner, FakeTimeProvider time, TimeSpan elapsed)
    {
        var gate = runner.Gate!;
        runner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        time.Advance(elapsed);
        gate.SetResult();
        await runner.Started.WaitAsync(Safety);   // the next batch has started (and holds at the new gate)
    }

    [Fact]
    public async Task Enqueue_BacklogLongerThanTimeout_RefusedAtOnceWithQueueFullAndRetryAfter()
    {
        var time = new FakeTimeProvider();
        await using var harness = new Harness(Config(maxBatch: 2, timeoutMs: 1000), time: time);
        var runner = harness.Runners[0];
        runner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = harness.Enqueue(Requests.AddOne("m"));
        await runner.Started.WaitAsync(Safety);
        var queued = Enumerable.Range(0, 3).Select(_ => harness.Enqueue(Requests.AddOne("m"))).ToList();
        Assert.Null(harness.Loop.ExpectedQueueWait);   // no batch has run under backlog yet: no estimate, nobody refused

        // The first batch ran alone (nothing waited when it left), so it teaches nothing. The next takes 2 of the 3 queued
        // rows and leaves one behind: 400 ms of fake time for it is 200 ms a row under backlog.
        await FinishRunningBatchAsync(runner, time, TimeSpan.FromMilliseconds(100));
        Assert.Null(harness.Loop.ExpectedQueueWait);
        await FinishRunningBatchAsync(runner, time, TimeSpan.FromMilliseconds(400));
        Assert.Equal(TimeSpan.Zero, harness.Loop.ExpectedQueueWait);   // the last queued row is running now

        // 5 rows ahead: 1000 ms, not more than the timeout, so admitted; with 6 ahead (1200 ms) the next is refused.
        queued.AddRange(Enumerable.Range(0, 6).Select(_ => harness.Enqueue(Requests.AddOne("m"))));
        Assert.Equal(TimeSpan.FromMilliseconds(1200), harness.Loop.ExpectedQueueWait);
        var error = Assert.Throws<InferenceException>(() => harness.Enqueue(Requests.AddOne("m")));

        Assert.Equal(InferenceError.QueueFull, error.Error);
        Assert.Contains("about 1200 ms of work, more than this request's 1000 ms queue timeout", error.Message);
        Assert.Equal(TimeSpan.FromSeconds(1), error.RetryAfter);
        var counts = harness.Counters.Snapshot();
        Assert.Equal((10L, 1L), (counts.Admitted, counts.Rejected));

        // A request that may wait longer is still admitted behind the same backlog.
        var patient = harness.Enqueue(Requests.AddOne("m", parameters: new Dictionary<string, object?> { ["timeout"] = 1_500_000L }));
        runner.Gate.SetResult();
        runner.Gate = null;
        await Task.WhenAll(queued.Append(patient).Append(first).Select(p => p.Completion.Task)).WaitAsync(Safety);
        Assert.Equal(TimeSpan.Zero, harness.Loop.ExpectedQueueWait);
    }

    /// <summary>
    /// Advances fake time by <paramref name="first"/>, then in small steps until the request completes or
    /// <paramref name="limit"/> of fake time has passed. One step is not enough: the loop arms its timer relative to
    /// the clock when it gets there, so an Advance that lands between its reading the clock and arming the timer
    /// pushes the wake-up past the advanced time (a fresh-clone CI run hung that way).
    /// </summary>
    private static async Task AdvanceUntilDoneAsync(FakeTimeProvider time, PendingRequest request, TimeSpan first, TimeSpan limit)
    {
        time.Advance(first);
        var advanced = first;
        while (!request.Completion.Task.IsCompleted && advanced < limit)
        {
            await Task.Delay(10);
            time.Advance(TimeSpan.FromMilliseconds(10));
            advanced += TimeSpan.FromMilliseconds(10);
        }
    }

    [Fact]
    public async Task Enqueue_WaitsPastTimeout_FailsWithQueueTimeoutAndNeverRuns()
    {
        var time = new FakeTimeProvider();
        await using var harness = new Harness(Config(timeoutMs: 100), time: time);
        var runner = harness.Runners[0];
        runner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = harness.Enqueue(Requests.AddOne("m"));
        await runner.Started.WaitAsync(Safety);
        var waiting = harness.Enqueue(Requests.AddOne("m"));

        await AdvanceUntilDoneAsync(time, waiting, TimeSpan.FromMilliseconds(150), limit: TimeSpan.FromSeconds(1));
        var error = await Assert.ThrowsAsync<InferenceException>(() => waiting.Completion.Task.WaitAsync(Safety));

        Assert.Equal(InferenceError.QueueTimeout, error.Error);
        runner.Gate.SetResult();
        await blocker.Completion.Task.WaitAsync(Safety);
        Assert.Single(runner.Calls);
        Assert.Equal(1, harness.Counters.Snapshot().TimedOut);
    }

    [Fact]
    public async Task Enqueue_PerRequestTimeoutOverride_UsesTheShorterTimeout()
    {
        var time = new FakeTimeProvider();
        await using var harness = new Harness(Config(timeoutMs: 60_000), time: time);
        var runner = harness.Runners[0];
        runner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = harness.Enqueue(Requests.AddOne("m"));
        await runner.Started.WaitAsync(Safety);
        var waiting = harness.Enqueue(Requests.AddOne("m", parameters: new Dictionary<string, object?> { ["timeout"] = 50_000L }));

        // The default timeout is 60 s: finishing within a second of fake time proves the 50 ms override won.
        await AdvanceUntilDoneAsync(time, waiting, TimeSpan.FromMilliseconds(60), limit: TimeSpan.FromSeconds(1));
        var error = await Assert.ThrowsAsync<InferenceException>(() => waiting.Completion.Task.WaitAsync(Safety));

        Assert.Equal(InferenceError.QueueTimeout, error.Error);
        runner.Gate.SetResult();
    }

    [Fact]
    public async Task Enqueue_CancelledWhileQueued_NeverReachesTheRunner()
    {
        await using var harness = new Harness(Config());
        var runner = harness.Runners[0];
        runner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = harness.Enqueue(Requests.AddOne("m", start: 1));
        await runner.Started.WaitAsync(Safety);
        using var cts = new CancellationTokenSource();
        var cancelled = harness.Enqueue(Requests.AddOne("m", start: 500), cts.Token);
        var kept = harness.Enqueue(Requests.AddOne("m", start: 2));

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.Completion.Task.WaitAsync(Safety));
        runner.Gate.SetResult();
        await kept.Completion.Task.WaitAsync(Safety);
        await blocker.Completion.Task.WaitAsync(Safety);

        Assert.DoesNotContain(runner.Calls, c => c[0].ToArray<float>().Contains(500f));
        Assert.Equal(new RequestCounts(3, 2, 0, 1, 0, 0), harness.Counters.Snapshot());
        Assert.Equal(0, harness.Loop.QueuedCount);
    }

    [Fact]
    public async Task Enqueue_AlreadyCancelled_ThrowsWithoutAdmitting()
    {
        await using var harness = new Harness(Config());

        Assert.ThrowsAny<OperationCanceledException>(() => harness.Enqueue(Requests.AddOne("m"), new CancellationToken(true)));

        Assert.Equal(0, harness.Counters.Snapshot().Admitted);
    }

    [Fact]
    public async Task Enqueue_TwoInstances_RunTwoBatchesAtOnce()
    {
        await using var harness = new Harness(Config(), instances: 2);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Runners.ForEach(r => r.Gate = gate);

        var first = harness.Enqueue(Requests.AddOne("m"));
        await Requests.WaitUntilAsync(() => harness.RunnerCalls == 1, Safety, "first batch running");
        var second = harness.Enqueue(Requests.AddOne("m"));
        await Requests.WaitUntilAsync(() => harness.RunnerCalls == 2, Safety, "second batch running on the other instance");
        gate.SetResult();
        await Task.WhenAll(first.Completion.Task, second.Completion.Task).WaitAsync(Safety);

        Assert.All(harness.Runners, r => Assert.Single(r.Calls));
    }

    [Fact]
    public async Task Enqueue_RunnerFails_FailsTheBatchWithRuntimeFailureWithoutPaths()
    {
        await using var harness = new Harness(Config());
        harness.Runners[0].Fail = true;

        var error = await Assert.ThrowsAsync<InferenceException>(() => harness.Enqueue(Requests.AddOne("m")).Completion.Task.WaitAsync(Safety));

        Assert.Equal(InferenceError.RuntimeFailure, error.Error);
        Assert.DoesNotContain("/secret", error.Message);
        Assert.Equal(1, harness.Counters.Snapshot().Failed);
    }

    [Fact]
    public async Task Enqueue_ConcurrentBurstWithRandomCancels_AccountingInvariantHolds()
    {
        await using var harness = new Harness(Config(maxQueue: 64, delayMs: 1), instances: 2);
        var random = new Random(42);
        var tasks = new List<Task<string>>();
        var sources = new List<CancellationTokenSource>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 400), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            var cts = new CancellationTokenSource();
            int delay;
            lock (random)
            {
                delay = random.Next(0, 4);
                sources.Add(cts);
            }

            var outcome = await Outcome(() => harness.Enqueue(Requests.AddOne("m", start: i), cts.Token), cts, delay);
            lock (tasks)
            {
                tasks.Add(Task.FromResult(outcome));
            }
        });

        var counts = harness.Counters.Snapshot();
        var outcomes = tasks.Select(t => t.Result).ToList();
        Assert.Equal(counts.Admitted, counts.Succeeded + counts.Failed + counts.Cancelled + counts.TimedOut);
        Assert.Equal(400, counts.Admitted + counts.Rejected + outcomes.Count(o => o == "pre-cancelled"));
        Assert.Equal(counts.Succeeded, outcomes.Count(o => o == "ok"));
        Assert.Equal(counts.Cancelled, outcomes.Count(o => o == "cancelled"));
        Assert.Equal(counts.Rejected, outcomes.Count(o => o == "full"));
        Assert.Equal(0, harness.Loop.QueuedCount);
        // Every row the runner saw belongs to a request that succeeded: none cancelled while queued ran.
        Assert.Equal(counts.Succeeded, harness.Runners.Sum(r => r.Calls.Sum(c => c[0].Shape[0])));
        sources.ForEach(s => s.Dispose());

        static async Task<string> Outcome(Func<PendingRequest> enqueue, CancellationTokenSource cts, int mode)
        {
            PendingRequest pending;
            try
            {
                if (mode == 0)
                {
                    cts.Cancel();
                }

                pending = enqueue();
            }
            catch (OperationCanceledException)
            {
                return "pre-cancelled";
            }
            catch (InferenceException e) when (e.Error == InferenceError.QueueFull)
            {
                return "full";
            }

            if (mode == 1)
            {
                await cts.CancelAsync();
            }

            try
            {
                await pending.Completion.Task.WaitAsync(TimeSpan.FromSeconds(20));
                return "ok";
            }
            catch (OperationCanceledException)
            {
                return "cancelled";
            }
        }
    }

    [Fact]
    public async Task StopAsync_WithQueuedRequests_RunsThemBeforeStopping()
    {
        var harness = new Harness(Config(delayMs: 500));
        var pending = Enumerable.Range(0, 3).Select(i => harness.Enqueue(Requests.AddOne("m", start: i))).ToList();

        var drained = await harness.Loop.StopAsync(TimeSpan.FromSeconds(10)).WaitAsync(Safety);

        Assert.True(drained);
        await Task.WhenAll(pending.Select(p => p.Completion.Task)).WaitAsync(Safety);
        Assert.Equal(3, harness.Counters.Snapshot().Succeeded);
        await harness.DisposeAsync();
    }

    [Fact]
    public async Task Statistics_AfterBatches_CountRequestsRowsAndExecutions()
    {
        await using var harness = new Harness(Config());
        var runner = harness.Runners[0];
        runner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = harness.Enqueue(Requests.AddOne("m", rows: 1));
        await runner.Started.WaitAsync(Safety);
        var pending = new[] { harness.Enqueue(Requests.AddOne("m", rows: 2)), harness.Enqueue(Requests.AddOne("m", rows: 3)) };
        await Requests.WaitUntilAsync(() => harness.Loop.QueuedCount == 2, Safety, "two queued");
        runner.Gate.SetResult();
        await Task.WhenAll(pending.Select(p => p.Completion.Task)).WaitAsync(Safety);
        await blocker.Completion.Task.WaitAsync(Safety);

        var stats = harness.Statistics.Snapshot("m", "1");

        Assert.Equal(3, stats.InferenceStats.Success.Count);
        Assert.Equal(6, stats.InferenceCount);
        Assert.Equal(2, stats.ExecutionCount);
        Assert.Equal(3, stats.InferenceStats.Queue.Count);
        Assert.Equal(0, stats.InferenceStats.Fail.Count);
        Assert.Equal([1L, 5L], stats.BatchStats.Select(b => b.BatchSize));
        Assert.All(stats.BatchStats, b => Assert.Equal(1, b.ComputeInfer.Count));
        Assert.True(stats.LastInference > 0);
    }
}
