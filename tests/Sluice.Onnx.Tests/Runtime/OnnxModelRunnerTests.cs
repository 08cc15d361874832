using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Runtime;

public sealed class OnnxModelRunnerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task RunAsync_AddOne_ReturnsInputPlusOne()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));
        float[] x = [1f, 2f, 3f, 4f, -1f, -2f, -3f, 0.5f];

        var result = await runner.RunAsync([TensorData.From<float>("INPUT0", [2, 4], x)], "OUTPUT0");

        var output = Assert.Single(result.Outputs);
        Assert.Equal("OUTPUT0", output.Name);
        Assert.Equal(DataType.Fp32, output.DataType);
        Assert.Equal([2L, 4L], output.Shape);
        Assert.Equal(x.Select(v => v + 1f).ToArray(), output.ToArray<float>());
    }

    [Fact]
    public async Task RunAsync_AddSubOutputsInReverseOrder_ReturnsOutputsInRequestedOrder()
    {
        using var runner = Runners.Create(SampleModels.WriteAddSub(_dir.File("m.onnx")));
        var a = Enumerable.Range(0, 16).Select(i => (float)i).ToArray();
        var b = Enumerable.Range(0, 16).Select(i => 2f * i + 1).ToArray();

        var result = await runner.RunAsync(
            [TensorData.From<float>("INPUT1", [1, 16], b), TensorData.From<float>("INPUT0", [1, 16], a)], "OUTPUT1", "OUTPUT0");

        Assert.Equal(["OUTPUT1", "OUTPUT0"], result.Outputs.Select(o => o.Name));
        Assert.Equal(a.Zip(b, (x, y) => x - y).ToArray(), result.Outputs[0].ToArray<float>());
        Assert.Equal(a.Zip(b, (x, y) => x + y).ToArray(), result.Outputs[1].ToArray<float>());
    }

    [Fact]
    public async Task RunAsync_NoOutputNames_ReturnsAllOutputsInModelOrder()
    {
        using var runner = Runners.Create(SampleModels.WriteAddSub(_dir.File("m.onnx")));
        var a = new float[16];

        var result = await runner.RunAsync([TensorData.From<float>("INPUT0", [1, 16], a), TensorData.From<float>("INPUT1", [1, 16], a)]);

        Assert.Equal(["OUTPUT0", "OUTPUT1"], result.Outputs.Select(o => o.Name));
    }

    [Fact]
    public async Task RunAsync_EmptyBatch_ReturnsEmptyOutput()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));

        var result = await runner.RunAsync([new TensorData("INPUT0", DataType.Fp32, [0, 4], ReadOnlyMemory<byte>.Empty)], "OUTPUT0");

        Assert.Equal([0L, 4L], result.Outputs[0].Shape);
        Assert.Equal(0, result.Outputs[0].Data.Length);
    }

    [Fact]
    public async Task RunAsync_InputIsSliceOfLargerBuffer_ReadsOnlyTheSlice()
    {
        using var runner = Runners.Create(SampleModels.WriteNoBatch(_dir.File("m.onnx")));
        var buffer = new byte[4 * 5];
        for (var i = 0; i < 5; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer.AsSpan(i * 4), i * 10f);
        }

        var result = await runner.RunAsync([new TensorData("INPUT0", DataType.Fp32, [3], buffer.AsMemory(4, 12))], "OUTPUT0");

        Assert.Equal([11f, 21f, 31f], result.Outputs[0].ToArray<float>());
    }

    [Theory]
    [InlineData(DataType.UInt8)]
    [InlineData(DataType.UInt16)]
    [InlineData(DataType.UInt32)]
    [InlineData(DataType.UInt64)]
    [InlineData(DataType.Int8)]
    [InlineData(DataType.Int16)]
    [InlineData(DataType.Int32)]
    [InlineData(DataType.Int64)]
    [InlineData(DataType.Fp16)]
    [InlineData(DataType.Fp32)]
    [InlineData(DataType.Fp64)]
    public async Task RunAsync_AddOneOfType_ReturnsInputPlusOneInThatType(DataType type)
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx"), type));
        double[] x = [0, 5, 41, 100, 7, 2, 9, 126];

        var result = await runner.RunAsync([new TensorData("INPUT0", type, [2, 4], Encode(type, x))], "OUTPUT0");

        Assert.Equal(type, result.Outputs[0].DataType);
        Assert.Equal(Encode(type, x.Select(v => v + 1).ToArray()), result.Outputs[0].Data.ToArray());
    }

    /// <summary>Little-endian bytes of <paramref name="values"/> as elements of <paramref name="type"/>, written independently of the runner.</summary>
    private static byte[] Encode(DataType type, double[] values)
    {
        var size = type.ElementSize();
        var bytes = new byte[values.Length * size];
        for (var i = 0; i < values.Length; i++)
        {
            var span = bytes.AsSpan(i * size, size);
            var v = values[i];
            switch (type)
            {
                case DataType.UInt8: span[0] = (byte)v; break;
                case DataType.Int8: span[0] = (byte)(sbyte)v; break;
                case DataType.UInt16: BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)v); break;
                case DataType.Int16: BinaryPrimitives.WriteInt16LittleEndian(span, (short)v); break;
                case DataType.UInt32: BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)v); break;
                case DataType.Int32: BinaryPrimitives.WriteInt32LittleEndian(span, (int)v); break;
                case DataType.UInt64: BinaryPrimitives.WriteUInt64LittleEndian(span, (ulong)v); break;
                case DataType.Int64: BinaryPrimitives.WriteInt64LittleEndian(span, (long)v); break;
                case DataType.Fp16: BinaryPrimitives.WriteHalfLittleEndian(span, (Half)v); break;
                case DataType.Fp32: BinaryPrimitives.WriteSingleLittleEndian(span, (float)v); break;
                case DataType.Fp64: BinaryPrimitives.WriteDoubleLittleEndian(span, v); break;
                default: throw new ArgumentOutOfRangeException(nameof(type));
            }
        }

        return bytes;
    }

    public static TheoryData<DataType> FixedSizeTypes() =>
    [
        DataType.Bool, DataType.UInt8, DataType.UInt16, DataType.UInt32, DataType.UInt64, DataType.Int8, DataType.Int16,
        DataType.Int32, DataType.Int64, DataType.Fp16, DataType.Fp32, DataType.Fp64, DataType.Bf16,
    ];

    [Theory]
    [MemberData(nameof(FixedSizeTypes))]
    public async Task RunAsync_IdentityOfType_ReturnsSameBytesAndType(DataType type)
    {
        using var runner = Runners.Create(SampleModels.WriteIdentity(_dir.File("m.onnx"), type, [-1, 3]));
        var bytes = new byte[2 * 3 * type.ElementSize()];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)(i * 37 + 11);
        }

        if (type == DataType.Bool)
        {
            bytes = [1, 0, 1, 1, 0, 0];   // only 0 and 1 are booleans
        }

        var result = await runner.RunAsync([new TensorData("INPUT0", type, [2, 3], bytes)], "OUTPUT0");

        var output = Assert.Single(result.Outputs);
        Assert.Equal(type, output.DataType);
        Assert.Equal([2L, 3L], output.Shape);
        Assert.Equal(bytes, output.Data.ToArray());
        Assert.Equal([-1L, 3L], runner.Signature.Inputs[0].Dims);
        Assert.Equal(type, runner.Signature.Inputs[0].DataType);
    }

    [Fact]
    public async Task RunAsync_IdentityOfBytes_ReturnsSameElementsInWireForm()
    {
        using var runner = Runners.Create(SampleModels.WriteIdentity(_dir.File("m.onnx"), DataType.Bytes, [-1]));
        byte[][] elements = [Encoding.UTF8.GetBytes("héllo"), [], [0, 255, 0, 7], Encoding.UTF8.GetBytes(new string('x', 1000))];
        var wire = WireBytes(elements);

        var result = await runner.RunAsync([new TensorData("INPUT0", DataType.Bytes, [elements.Length], wire)], "OUTPUT0");

        var output = Assert.Single(result.Outputs);
        Assert.Equal(DataType.Bytes, output.DataType);
        Assert.Equal([(long)elements.Length], output.Shape);
        Assert.Equal(wire, output.Data.ToArray());
        Assert.Equal(DataType.Bytes, runner.Signature.Inputs[0].DataType);
    }

    [Theory]
    [InlineData(new byte[] { 5, 0, 0 }, "length prefix")]
    [InlineData(new byte[] { 9, 0, 0, 0, 1, 2 }, "claims 9 bytes")]
    [InlineData(new byte[] { 1, 0, 0, 0, 65, 1, 0, 0, 0, 66, 0 }, "follow the last")]
    public async Task RunAsync_MalformedBytes_ThrowsInvalidInputNamingInput(byte[] wire, string expected)
    {
        using var runner = Runners.Create(SampleModels.WriteIdentity(_dir.File("m.onnx"), DataType.Bytes, [-1]));
        long count = wire.Length == 11 ? 2 : 1;

        var error = await Assert.ThrowsAsync<InferenceException>(() => runner.RunAsync([new TensorData("INPUT0", DataType.Bytes, [count], wire)]));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("INPUT0", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public async Task RunAsync_WrongDataType_ThrowsInvalidInput()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));

        var error = await Assert.ThrowsAsync<InferenceException>(() => runner.RunAsync([TensorData.From<double>("INPUT0", [1, 4], new double[4])]));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("INPUT0", error.Message);
        Assert.Contains("FP64", error.Message);
    }

    [Theory]
    [InlineData(new long[] { 1, 5 })]
    [InlineData(new long[] { 4 })]
    [InlineData(new long[] { 1, 4, 1 })]
    public async Task RunAsync_WrongShape_ThrowsInvalidInputNamingShape(long[] shape)
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));
        TensorShape.TryGetElementCount(shape, out var count);

        var error = await Assert.ThrowsAsync<InferenceException>(() => runner.RunAsync([TensorData.From<float>("INPUT0", shape, new float[count])]));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains(TensorShape.Format(shape), error.Message);
    }

    [Fact]
    public async Task RunAsync_DataShorterThanShape_ThrowsInvalidInput()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));

        var error = await Assert.ThrowsAsync<InferenceException>(() => runner.RunAsync([new TensorData("INPUT0", DataType.Fp32, [2, 4], new byte[28])]));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("needs 32 bytes, got 28", error.Message);
    }

    [Fact]
    public async Task RunAsync_MissingInput_ThrowsInvalidInputNamingIt()
    {
        using var runner = Runners.Create(SampleModels.WriteAddSub(_dir.File("m.onnx")));

        var error = await Assert.ThrowsAsync<InferenceException>(() => runner.RunAsync([TensorData.From<float>("INPUT0", [1, 16], new float[16])]));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("'INPUT1'", error.Message);
    }

    [Fact]
    public async Task RunAsync_UnknownInput_ThrowsInvalidInputNamingIt()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));

        var error = await Assert.ThrowsAsync<InferenceException>(() => runner.RunAsync(
            [TensorData.From<float>("INPUT0", [1, 4], new float[4]), TensorData.From<float>("EXTRA", [1, 4], new float[4])]));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("'EXTRA'", error.Message);
    }

    [Fact]
    public async Task RunAsync_UnknownOutput_ThrowsInvalidInputNamingIt()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));

        var error = await Assert.ThrowsAsync<InferenceException>(() => runner.RunAsync([TensorData.From<float>("INPUT0", [1, 4], new float[4])], "NOPE"));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("'NOPE'", error.Message);
    }

    [Fact]
    public async Task RunAsync_TokenCancelledBefore_ThrowsOperationCanceled()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));
        using var cts = new CancellationTokenSource();
        cts.Cancel();

        var task = runner.RunAsync([TensorData.From<float>("INPUT0", [1, 4], new float[4])], ["OUTPUT0"], cts.Token);

        Assert.True(task.IsCanceled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task RunAsync_TokenCancelledWhileRunning_TerminatesNativeRunAndThrowsOperationCanceled()
    {
        // 8192 rows x 500 iterations x 1 M multiply-adds: about a minute on one core of the dev machine unless terminated.
        using var runner = Runners.Create(SampleModels.WriteSlow(_dir.File("slow.onnx"), iterations: 500),
            new Sluice.Core.Configuration.ExecutionConfig { IntraOpThreads = 1 });
        var input = TensorData.From<float>("INPUT0", [8192, SampleModels.SlowInputWidth], new float[8192 * SampleModels.SlowInputWidth]);
        using var cts = new CancellationTokenSource();
        using var runningThread = new Barrier(2);
        var stopwatch = Stopwatch.StartNew();

        var run = Task.Run(() =>
        {
            runningThread.SignalAndWait();
            return runner.RunAsync([input], ["OUTPUT0"], cts.Token).AsTask();
        });
        runningThread.SignalAndWait();
        cts.CancelAfter(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"Cancelled run took {stopwatch.Elapsed}.");
    }

    [Fact]
    public async Task RunAsync_AfterCancelledRun_RunsNormally()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            runner.RunAsync([TensorData.From<float>("INPUT0", [1, 4], new float[4])], ["OUTPUT0"], cts.Token).AsTask());

        using var live = new CancellationTokenSource();
        var result = await runner.RunAsync([TensorData.From<float>("INPUT0", [1, 4], new float[4])], ["OUTPUT0"], live.Token)
            .AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([1f, 1f, 1f, 1f], result.Outputs[0].ToArray<float>());
    }

    [Fact]
    public async Task RunAsync_AfterDispose_ThrowsObjectDisposed()
    {
        var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));
        runner.Dispose();
        runner.Dispose();   // idempotent

        await Assert.ThrowsAsync<ObjectDisposedException>(() => runner.RunAsync([TensorData.From<float>("INPUT0", [1, 4], new float[4])]));
    }

    private static byte[] WireBytes(byte[][] elements)
    {
        var wire = new byte[elements.Sum(e => 4 + e.Length)];
        var offset = 0;
        foreach (var element in elements)
        {
            BinaryPrimitives.WriteInt32LittleEndian(wire.AsSpan(offset), element.Length);
            element.CopyTo(wire, offset + 4);
            offset += 4 + element.Length;
        }

        return wire;
    }
}
