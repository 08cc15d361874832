using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;

namespace Sluice.Engine.Tests.TestSupport;

/// <summary>
/// A runner that adds 1 to FP32 <c>INPUT0</c> into <c>OUTPUT0</c> (same shape), records every call, and can be held at a gate
/// or made to fail. Warm-up calls are counted too; tests reset <see cref="Calls"/> after loading.
/// </summary>
internal sealed class FakeRunner : IModelRunner
{
    /// <summary>Every batch's inputs, in call order.</summary>
    public ConcurrentQueue<IReadOnlyList<TensorData>> Calls { get; } = new();

    /// <summary>While set, each call waits for it to complete before returning.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Signalled when a call starts (before the gate).</summary>
    public SemaphoreSlim Started { get; } = new(0);

    /// <summary>When true, calls throw.</summary>
    public bool Fail { get; set; }

    public bool Disposed { get; private set; }

    public int Concurrent;
    public int MaxConcurrent;

    /// <summary>Returned as <see cref="IModelRunner.Scheduler"/>; null: the thread pool.</summary>
    public TaskScheduler? PreferredScheduler { get; set; }

    /// <summary>The managed thread of each call, in call order.</summary>
    public ConcurrentQueue<int> CallThreads { get; } = new();

    public TaskScheduler? Scheduler => PreferredScheduler;

    public async ValueTask<RunResult> RunAsync(IReadOnlyList<TensorData> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Disposed, this);
        var now = Interlocked.Increment(ref Concurrent);
        InterlockedMax(ref MaxConcurrent, now);
        try
        {
            Calls.Enqueue(inputs);
            CallThreads.Enqueue(Environment.CurrentManagedThreadId);
            Started.Release();
            if (Gate is { } gate)
            {
                await gate.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            if (Fail)
            {
                throw new InvalidOperationException("fake failure at /secret/path/model.onnx");
            }

            var input = inputs[0];
            var values = MemoryMarshal.Cast<byte, float>(input.Data.Span).ToArray();
            for (var i = 0; i < values.Length; i++)
            {
                values[i] += 1;
            }

            var t = Stopwatch.GetTimestamp();
            var outputs = outputNames.Select(name => TensorData.From<float>(name, input.Shape, values)).ToList();
            return new RunResult(outputs, t, t, t);
        }
        finally
        {
            Interlocked.Decrement(ref Concurrent);
        }
    }

    public void Dispose() => Disposed = true;

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}

/// <summary>A backend whose model files are text: the signature comes from the test, "corrupt" files fail to load.</summary>
internal sealed class FakeBackend(ModelSignature signature) : IModelBackend
{
    public ConcurrentQueue<FakeRunner> Runners { get; } = new();

    public Action<FakeRunner>? OnCreate { get; set; }

    public string Name => "onnxruntime";

    public string Platform => "onnxruntime_onnx";

    public ModelSignature ReadSignature(string modelPath, ExecutionConfig execution)
    {
        if (File.ReadAllText(modelPath).Contains("corrupt", StringComparison.Ordinal))
        {
            throw new InferenceException(InferenceError.LoadFailed, $"Load model from {modelPath} failed: protobuf parsing failed");
        }

        return signature;
    }

    public IModelRunner CreateRunner(ModelConfig config, string modelPath, RunnerPlacement placement)
    {
        var runner = new FakeRunner();
        OnCreate?.Invoke(runner);
        Runners.Enqueue(runner);
        return runner;
    }

    /// <summary>FP32 INPUT0 → OUTPUT0, both [-1, 4].</summary>
    public static ModelSignature AddOneSignature { get; } = new(
        [new TensorConfig("INPUT0", DataType.Fp32, [-1, 4])],
        [new TensorConfig("OUTPUT0", DataType.Fp32, [-1, 4])]);
}

/// <summary>Creates a temporary folder, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sluice-engine-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class Requests
{
    /// <summary>An FP32 INPUT0 request of <paramref name="rows"/> rows of 4, values start, start+1, ...</summary>
    public static InferenceRequest AddOne(string model, int rows = 1, float start = 0, string? version = null, IReadOnlyDictionary<string, object?>? parameters = null)
    {
        var values = Enumerable.Range(0, rows * 4).Select(i => start + i).ToArray();
        return new InferenceRequest
        {
            ModelName = model,
            ModelVersion = version,
            Inputs = [TensorData.From<float>("INPUT0", [rows, 4], values)],
            Parameters = parameters ?? new Dictionary<string, object?>(),
        };
    }

    /// <summary>Polls a condition until true or the deadline passes (no fixed sleeps that "let it settle").</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (!condition())
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException($"Timed out waiting for: {what}");
            }

            await Task.Delay(5);
        }
    }
}

/// <summary>A scheduler with one thread of its own (what a GPU instance's runner offers), counting the tasks queued to it.</summary>
internal sealed class DedicatedThreadScheduler : TaskScheduler, IDisposable
{
    private readonly BlockingCollection<Task> _tasks = new();
    private readonly Thread _thread;
    private int _queued;

    public DedicatedThreadScheduler()
    {
        _thread = new Thread(() =>
        {
            foreach (var task in _tasks.GetConsumingEnumerable())
            {
                TryExecuteTask(task);
            }
        }) { IsBackground = true, Name = "test-dedicated" };
        _thread.Start();
    }

    public int ThreadId => _thread.ManagedThreadId;

    public int Queued => Volatile.Read(ref _queued);

    protected override void QueueTask(Task task)
    {
        Interlocked.Increment(ref _queued);
        _tasks.Add(task);
    }

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) =>
        Thread.CurrentThread == _thread && TryExecuteTask(task);

    protected override IEnumerable<Task>? GetScheduledTasks() => null;

    public void Dispose() => _tasks.CompleteAdding();
}
