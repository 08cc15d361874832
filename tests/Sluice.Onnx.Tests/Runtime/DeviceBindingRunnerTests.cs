using Microsoft.ML.OnnxRuntime;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Runtime;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Runtime;

/// <summary>The IOBinding path (per-shape buckets of bound buffers), run on the CPU provider where ONNX Runtime allows it.</summary>
public sealed class DeviceBindingRunnerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static ExecutionConfig Binding(int? maxBuckets = null)
    {
        var options = new Dictionary<string, string> { [OnnxSessionSettings.IoBindingOption] = "1" };
        if (maxBuckets is { } max)
        {
            options[OnnxSessionSettings.MaxShapeBucketsOption] = max.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return new ExecutionConfig { ProviderOptions = options };
    }

    private static float[] Values(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 200 - 100)).ToArray();
    }

    [Fact]
    public void CreateRunner_CpuWithoutOption_KeepsPerCallPath()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));

        Assert.False(runner.UsesDeviceBinding);
    }

    [Fact]
    public async Task RunAsync_CpuIoBinding_ReturnsInputPlusOneEveryRun()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")), Binding());
        Assert.True(runner.UsesDeviceBinding);

        // Three runs of one shape: the first learns the output shape, the later ones reuse the bound buffers with new data.
        for (var seed = 1; seed <= 3; seed++)
        {
            var x = Values(8, seed);
            var result = await runner.RunAsync([TensorData.From<float>("INPUT0", [2, 4], x)], "OUTPUT0");

            var output = Assert.Single(result.Outputs);
            Assert.Equal("OUTPUT0", output.Name);
            Assert.Equal([2L, 4L], output.Shape);
            Assert.Equal(x.Select(v => v + 1f).ToArray(), output.ToArray<float>());
        }

        Assert.Equal(1, runner.ShapeBucketsCreated);
    }

    [Fact]
    public async Task RunAsync_IoBindingCalledFromManyThreads_EveryRunOnTheInstanceThread()
    {
        // ONNX Runtime's CUDA attention keeps its cuDNN plans in thread_local caches: runs must not hop threads.
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")), Binding());
        var callers = new System.Collections.Concurrent.ConcurrentBag<int>();
        var runThreads = new System.Collections.Concurrent.ConcurrentBag<int>();

        await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
        {
            callers.Add(Environment.CurrentManagedThreadId);
            var rows = 1 + (i % 3);   // three shapes, so buckets are created from the instance thread too
            var x = Values(rows * 4, i);
            var result = await runner.RunAsync([TensorData.From<float>("INPUT0", [rows, 4], x)], "OUTPUT0");
            runThreads.Add(runner.LastRunThreadId);
            Assert.Equal(x.Select(v => v + 1f).ToArray(), result.Outputs[0].ToArray<float>());
        })));

        var runThread = Assert.Single(runThreads.Distinct());
        Assert.DoesNotContain(runThread, callers);
    }

    [Fact]
    public async Task RunAsync_CalledFromTheRunnersOwnScheduler_RunsInlineThereWithoutAnotherHop()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")), Binding());
        var scheduler = Assert.IsAssignableFrom<TaskScheduler>(runner.Scheduler);
        var x = Values(8, 3);

        var (completedInline, schedulerThread, result) = await Task.Factory.StartNew(() =>
        {
            var pending = runner.RunAsync([TensorData.From<float>("INPUT0", [2, 4], x)], ["OUTPUT0"], CancellationToken.None);
            return (pending.IsCompleted, Environment.CurrentManagedThreadId, pending.Result);
        }, CancellationToken.None, TaskCreationOptions.DenyChildAttach, scheduler).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(completedInline);
        Assert.Equal(schedulerThread, runner.LastRunThreadId);
        Assert.Equal(x.Select(v => v + 1f).ToArray(), result.Outputs[0].ToArray<float>());
    }

    [Fact]
    public async Task RunAsync_CpuIoBindingReturnedOutput_IsNotOverwrittenByLaterRun()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")), Binding());
        var first = Values(4, 10);
        await runner.RunAsync([TensorData.From<float>("INPUT0", [1, 4], Values(4, 9))], "OUTPUT0");   // discovery run

        var kept = await runner.RunAsync([TensorData.From<float>("INPUT0", [1, 4], first)], "OUTPUT0");
        await runner.RunAsync([TensorData.From<float>("INPUT0", [1, 4], Values(4, 11))], "OUTPUT0");

        Assert.Equal(first.Select(v => v + 1f).ToArray(), kept.Outputs[0].ToArray<float>());
    }

    [Fact]
    public async Task RunAsync_CpuIoBindingSeveralShapes_OneBucketPerShape()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")), Binding());

        foreach (var rows in new[] { 1, 8, 1, 32, 8 })
        {
            var x = Values(rows * 4, rows);
            var result = await runner.RunAsync([TensorData.From<float>("INPUT0", [rows, 4], x)], "OUTPUT0");
            Assert.Equal([(long)rows, 4L], result.Outputs[0].Shape);
            Assert.Equal(x.Select(v => v + 1f).ToArray(), result.Outputs[0].ToArray<float>());
        }

        Assert.Equal(3, runner.ShapeBucketsCreated);
        Assert.Equal(3, runner.ShapeBucketCount);
    }

    [Fact]
    public async Task RunAsync_MoreShapesThanBuckets_EvictsAndStaysCorrect()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")), Binding(maxBuckets: 2));

        foreach (var rows in new[] { 1, 2, 3, 1, 2, 3 })
        {
            var x = Values(rows * 4, 100 + rows);
            var result = await runner.RunAsync([TensorData.From<float>("INPUT0", [rows, 4], x)], "OUTPUT0");
            Assert.Equal(x.Select(v => v + 1f).ToArray(), result.Outputs[0].ToArray<float>());
        }

        Assert.Equal(2, runner.ShapeBucketCount);
        Assert.Equal(6, runner.ShapeBucketsCreated);   // every run evicted the least recently used shape
    }

    [Fact]
    public async Task RunAsync_CpuIoBindingOutputsInRequestedOrder_BucketPerOutputSelection()
    {
        using var runner = Runners.Create(SampleModels.WriteAddSub(_dir.File("m.onnx")), Binding());
        var a = Values(16, 1);
        var b = Values(16, 2);
        TensorData[] inputs = [TensorData.From<float>("INPUT1", [1, 16], b), TensorData.From<float>("INPUT0", [1, 16], a)];

        var reversed = await runner.RunAsync(inputs, "OUTPUT1", "OUTPUT0");
        var onlySum = await runner.RunAsync(inputs, "OUTPUT0");

        Assert.Equal(["OUTPUT1", "OUTPUT0"], reversed.Outputs.Select(o => o.Name));
        Assert.Equal(a.Zip(b, (x, y) => x - y).ToArray(), reversed.Outputs[0].ToArray<float>());
        Assert.Equal(a.Zip(b, (x, y) => x + y).ToArray(), reversed.Outputs[1].ToArray<float>());
        Assert.Equal(a.Zip(b, (x, y) => x + y).ToArray(), Assert.Single(onlySum.Outputs).ToArray<float>());
        Assert.Equal(2, runner.ShapeBucketsCreated);
    }

    [Fact]
    public async Task RunAsync_CpuIoBindingWrongDatatype_ThrowsInvalidInputNamingInput()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")), Binding());

        var error = await Assert.ThrowsAsync<InferenceException>(() =>
            runner.RunAsync([TensorData.From<int>("INPUT0", [1, 4], [1, 2, 3, 4])], "OUTPUT0"));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("'INPUT0'", error.Message);
        Assert.Equal(0, runner.ShapeBucketsCreated);
    }

    [Fact]
    public async Task RunAsync_CpuIoBindingWrongByteCount_ThrowsInvalidInput()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")), Binding());

        var error = await Assert.ThrowsAsync<InferenceException>(() =>
            runner.RunAsync([new TensorData("INPUT0", DataType.Fp32, [1, 4], new byte[12])], "OUTPUT0"));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("needs 16 bytes, got 12", error.Message);
    }

    [Fact]
    public async Task RunAsync_CpuIoBindingCancelledToken_ThrowsOperationCanceled()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")), Binding());
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            runner.RunAsync([TensorData.From<float>("INPUT0", [1, 4], Values(4, 1))], ["OUTPUT0"], cancelled.Token).AsTask()
                .WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task RunAsync_CpuIoBindingTimestamps_AreOrdered()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")), Binding());
        var x = Values(8, 5);
        await runner.RunAsync([TensorData.From<float>("INPUT0", [2, 4], x)], "OUTPUT0");

        var result = await runner.RunAsync([TensorData.From<float>("INPUT0", [2, 4], x)], "OUTPUT0");

        Assert.True(result.ComputeInputEnd <= result.ComputeInferEnd);
        Assert.True(result.ComputeInferEnd <= result.ComputeOutputEnd);
    }

    [Fact]
    public async Task RunAsync_MiniLmThroughIoBinding_MatchesBareSession()
    {
        var modelPath = Sluice.Engine.Repository.DemoRepository.WriteMiniLm(_dir.Path);
        using var runner = Runners.Create(modelPath, Binding());
        using var bare = new InferenceSession(modelPath);
        const int rows = 2, seq = 16;
        var ids = MiniLmFixture.TokenIds(rows, seq, seed: 7);
        var mask = Enumerable.Repeat(1L, rows * seq).ToArray();
        var types = new long[rows * seq];
        TensorData[] inputs =
        [
            TensorData.From<long>("input_ids", [rows, seq], ids),
            TensorData.From<long>("attention_mask", [rows, seq], mask),
            TensorData.From<long>("token_type_ids", [rows, seq], types),
        ];

        await runner.RunAsync(inputs, "last_hidden_state");   // discovery run
        var result = await runner.RunAsync(inputs, "last_hidden_state");

        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [rows, seq]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [rows, seq]);
        using var typesValue = OrtValue.CreateTensorValueFromMemory(types, [rows, seq]);
        using var options = new RunOptions();
        using var reference = bare.Run(options, ["input_ids", "attention_mask", "token_type_ids"], [idsValue, maskValue, typesValue], ["last_hidden_state"]);
        var expected = reference[0].GetTensorDataAsSpan<float>().ToArray();
        var actual = result.Outputs[0].ToArray<float>();
        Assert.Equal([(long)rows, seq, 384L], result.Outputs[0].Shape);
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f, $"element {i}: {actual[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void CreateRunner_StringModelWithIoBinding_KeepsPerCallPath()
    {
        using var runner = Runners.Create(SampleModels.WriteIdentity(_dir.File("s.onnx"), DataType.Bytes, [-1, 2]), Binding());

        Assert.False(runner.UsesDeviceBinding);
    }
}

public sealed class CudaGraphCaptureGateTests
{
    [Fact]
    public void For_SameDevice_ReturnsOneGateAndOtherDeviceAnother()
    {
        Assert.Same(CudaGraphCaptureGate.For(41), CudaGraphCaptureGate.For(41));
        Assert.NotSame(CudaGraphCaptureGate.For(41), CudaGraphCaptureGate.For(42));
    }

    [Fact]
    public async Task Enter_ExclusiveHeld_SharedWaitsUntilItIsLeft()
    {
        var gate = CudaGraphCaptureGate.For(43);
        using var captured = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var capture = Task.Run(() =>
        {
            using (CudaGraphCaptureGate.Enter(gate, exclusive: true))
            {
                captured.Set();
                release.Wait(TimeSpan.FromSeconds(30));
            }
        });
        Assert.True(captured.Wait(TimeSpan.FromSeconds(10)));

        var sharedEntered = Task.Run(() =>
        {
            using (CudaGraphCaptureGate.Enter(gate, exclusive: false))
            {
                return gate.IsWriteLockHeld;   // read on this thread: false; the writer is gone once we are in
            }
        });

        var first = await Task.WhenAny(sharedEntered, Task.Delay(TimeSpan.FromMilliseconds(200)));
        Assert.NotSame(sharedEntered, first);   // blocked behind the capture
        release.Set();
        await capture.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(await sharedEntered.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, gate.CurrentReadCount);
    }

    [Fact]
    public void Enter_NoGate_DoesNothing()
    {
        using (CudaGraphCaptureGate.Enter(null, exclusive: true))
        {
        }
    }
}
