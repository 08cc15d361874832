using System.Buffers.Binary;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Engine.Validation;

namespace Sluice.Engine.Tests.Validation;

public sealed class RequestValidatorTests
{
    private static readonly ModelConfig Batched = new()
    {
        Name = "bert",
        MaxBatchSize = 4,
        Inputs =
        [
            new TensorConfig("input_ids", DataType.Int64, [-1]),
            new TensorConfig("mask", DataType.Int64, [-1]),
        ],
        Outputs = [new TensorConfig("out", DataType.Fp32, [-1, 3]), new TensorConfig("pooled", DataType.Fp32, [3])],
        DynamicBatching = new DynamicBatchingConfig(),
    };

    private static readonly ModelConfig Strings = new()
    {
        Name = "s",
        MaxBatchSize = 0,
        Inputs = [new TensorConfig("text", DataType.Bytes, [2])],
        Outputs = [new TensorConfig("len", DataType.Int32, [2])],
    };

    private static TensorData Ids(string name, long rows, long seq) => TensorData.From<long>(name, [rows, seq], new long[rows * seq]);

    private static InferenceRequest Request(params TensorData[] inputs) => new() { ModelName = "bert", Inputs = inputs };

    [Fact]
    public void Validate_GoodRequest_OrdersInputsAndCountsRows()
    {
        var validated = new RequestValidator(Batched).Validate(Request(Ids("mask", 2, 5), Ids("input_ids", 2, 5)));

        Assert.Equal(["input_ids", "mask"], validated.OrderedInputs.Select(i => i.Name));
        Assert.Equal(2, validated.Rows);
        Assert.Equal(["out", "pooled"], validated.OutputNames);
    }

    public static TheoryData<string, Func<InferenceRequest>> BadRequests => new()
    {
        { "input 'input_ids': expected datatype INT64, got FP32", () => Request(TensorData.From<float>("input_ids", [1, 2], new float[2]), Ids("mask", 1, 2)) },
        { "input 'mask': missing", () => Request(Ids("input_ids", 1, 2)) },
        { "input 'nope': model 'bert' has no such input", () => Request(Ids("input_ids", 1, 2), Ids("mask", 1, 2), Ids("nope", 1, 2)) },
        { "input 'input_ids': given more than once", () => Request(Ids("input_ids", 1, 2), Ids("input_ids", 1, 2), Ids("mask", 1, 2)) },
        { "input 'input_ids': expected shape [-1,-1] (rank 2), got [2] (rank 1)", () => Request(TensorData.From<long>("input_ids", [2], new long[2]), Ids("mask", 1, 2)) },
        { "input 'input_ids': batch size (first dimension) must be within 1..4, got 5", () => Request(Ids("input_ids", 5, 2), Ids("mask", 5, 2)) },
        { "input 'input_ids': batch size (first dimension) must be within 1..4, got 0", () => Request(Ids("input_ids", 0, 2), Ids("mask", 0, 2)) },
        { "input 'mask': batch size 2 differs", () => Request(Ids("input_ids", 1, 2), Ids("mask", 2, 2)) },
        { "input 'input_ids': shape [1,3] of INT64 needs 24 bytes, got 16", () => Request(new TensorData("input_ids", DataType.Int64, [1, 3], new byte[16]), Ids("mask", 1, 3)) },
        { "input 'input_ids': shape [2,4611686018427387904] has too many elements", () => Request(new TensorData("input_ids", DataType.Int64, [2, 1L << 62], new byte[8]), Ids("mask", 2, 1)) },
        { "input 'input_ids': shape [1,1152921504606846976] is too large", () => Request(new TensorData("input_ids", DataType.Int64, [1, 1L << 60], new byte[8]), Ids("mask", 1, 1)) },
        { "input 'input_ids': shape [1,-3] has a negative dimension", () => Request(new TensorData("input_ids", DataType.Int64, [1, -3], new byte[8]), Ids("mask", 1, 1)) },
        { "inputs: the request has no inputs", () => Request() },
        { "output 'missing': model 'bert' has no such output", () => new InferenceRequest { ModelName = "bert", Inputs = [Ids("input_ids", 1, 2), Ids("mask", 1, 2)], Outputs = [new RequestedOutput("missing")] } },
        { "output 'out': requested more than once", () => new InferenceRequest { ModelName = "bert", Inputs = [Ids("input_ids", 1, 2), Ids("mask", 1, 2)], Outputs = [new RequestedOutput("out"), new RequestedOutput("out")] } },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void Validate_BadRequest_ThrowsInvalidInputNamingTheField(string expected, Func<InferenceRequest> request)
    {
        var error = Assert.Throws<InferenceException>(() => new RequestValidator(Batched).Validate(request()));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.StartsWith(expected, error.Message);
    }

    [Fact]
    public void Validate_FixedDimMismatch_NamesExpectedShape()
    {
        var config = Batched with { Inputs = [new TensorConfig("input_ids", DataType.Int64, [3]), new TensorConfig("mask", DataType.Int64, [-1])] };

        var error = Assert.Throws<InferenceException>(() => new RequestValidator(config).Validate(Request(Ids("input_ids", 1, 2), Ids("mask", 1, 2))));

        Assert.Equal("input 'input_ids': expected shape [-1,3], got [1,2]", error.Message);
    }

    private static byte[] Bytes(params string[] elements)
    {
        using var stream = new MemoryStream();
        Span<byte> prefix = stackalloc byte[4];
        foreach (var element in elements)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(element);
            BinaryPrimitives.WriteUInt32LittleEndian(prefix, (uint)bytes.Length);
            stream.Write(prefix);
            stream.Write(bytes);
        }

        return stream.ToArray();
    }

    [Fact]
    public void Validate_BytesWithRightElementCount_Passes()
    {
        var request = new InferenceRequest { ModelName = "s", Inputs = [new TensorData("text", DataType.Bytes, [2], Bytes("ab", ""))] };

        var validated = new RequestValidator(Strings).Validate(request);

        Assert.Equal(1, validated.Rows);
    }

    public static TheoryData<string, byte[]> BadBytes => new()
    {
        { "needs 2 BYTES elements, got 3", Bytes("a", "b", "c") },
        { "needs 2 BYTES elements, got 1", Bytes("a") },
        { "BYTES element 1 claims 100 bytes", [.. Bytes("a"), 100, 0, 0, 0, 1] },
        { "BYTES element 1 has a truncated 4-byte length prefix", [.. Bytes("a"), 1, 0] },
        { "BYTES element 0 claims 4294967295 bytes", [255, 255, 255, 255] },
    };

    [Theory]
    [MemberData(nameof(BadBytes))]
    public void Validate_MalformedBytes_ThrowsNamingTheInput(string expected, byte[] data)
    {
        var request = new InferenceRequest { ModelName = "s", Inputs = [new TensorData("text", DataType.Bytes, [2], data)] };

        var error = Assert.Throws<InferenceException>(() => new RequestValidator(Strings).Validate(request));

        Assert.StartsWith("input 'text': ", error.Message);
        Assert.Contains(expected, error.Message);
    }
}
