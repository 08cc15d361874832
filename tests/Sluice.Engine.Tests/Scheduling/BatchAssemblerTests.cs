using System.Buffers.Binary;
using System.Text;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Engine.Scheduling;

namespace Sluice.Engine.Tests.Scheduling;

public sealed class BatchAssemblerTests
{
    private static byte[] Strings(params string[] elements)
    {
        var stream = new MemoryStream();
        foreach (var element in elements)
        {
            var bytes = Encoding.UTF8.GetBytes(element);
            var prefix = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(prefix, (uint)bytes.Length);
            stream.Write(prefix);
            stream.Write(bytes);
        }

        return stream.ToArray();
    }

    private static PendingRequest Pending(TensorData input, int rows, string output = "y") => new(
        new InferenceRequest { ModelName = "m", Inputs = [input] }, [input], [output], rows, ShapeKey.None, 0, long.MaxValue, CancellationToken.None);

    [Fact]
    public void Concatenate_ThenSplit_BytesRoundTripPerRequest()
    {
        var a = Pending(new TensorData("x", DataType.Bytes, [1, 2], Strings("a", "bb")), 1);
        var b = Pending(new TensorData("x", DataType.Bytes, [2, 2], Strings("", "ccc", "dddd", "e")), 2);

        var joined = BatchAssembler.Concatenate([a, b], 3).Single();
        var output = new TensorData("y", DataType.Bytes, joined.Shape, joined.Data);
        var outputs = new Dictionary<string, TensorData> { ["y"] = output };
        var first = BatchAssembler.Split(outputs, a, 0, 1, 3, wholeBatch: false).Single();
        var second = BatchAssembler.Split(outputs, b, 1, 2, 3, wholeBatch: false).Single();

        Assert.Equal([3L, 2L], joined.Shape);
        Assert.Equal(Strings("a", "bb"), first.Data.ToArray());
        Assert.Equal([1L, 2L], first.Shape);
        Assert.Equal(Strings("", "ccc", "dddd", "e"), second.Data.ToArray());
        Assert.Equal([2L, 2L], second.Shape);
    }

    [Fact]
    public void Concatenate_FixedSizeRows_CopiesInOrder()
    {
        var a = Pending(TensorData.From<int>("x", [1, 2], [1, 2]), 1);
        var b = Pending(TensorData.From<int>("x", [2, 2], [3, 4, 5, 6]), 2);

        var joined = BatchAssembler.Concatenate([a, b], 3).Single();

        Assert.Equal([1, 2, 3, 4, 5, 6], joined.ToArray<int>());
        Assert.Equal([3L, 2L], joined.Shape);
    }

    [Fact]
    public void Concatenate_SingleRequest_PassesInputsThroughWithoutCopy()
    {
        var input = TensorData.From<int>("x", [1, 2], [1, 2]);

        var joined = BatchAssembler.Concatenate([Pending(input, 1)], 1).Single();

        Assert.Same(input, joined);
    }

    [Fact]
    public void Split_OutputWithoutBatchDimension_ThrowsRuntimeFailureNamingTheOutput()
    {
        var outputs = new Dictionary<string, TensorData> { ["y"] = TensorData.From<float>("y", [5], new float[5]) };
        var pending = Pending(TensorData.From<float>("x", [1, 1], [0f]), 1);

        var error = Assert.Throws<InferenceException>(() => BatchAssembler.Split(outputs, pending, 0, 1, 3, wholeBatch: false));

        Assert.Equal(InferenceError.RuntimeFailure, error.Error);
        Assert.Contains("output 'y'", error.Message);
    }
}
