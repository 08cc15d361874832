using System.Runtime.InteropServices;
using System.Text;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Server.Http;

namespace Sluice.Server.Tests.Http;

public sealed class InferRequestDecoderTests
{
    private static DecodedInferRequest Decode(string json, int maxDepth = 32) =>
        InferRequestDecoder.Decode("m", null, Encoding.UTF8.GetBytes(json), headerLength: null, maxDepth);

    [Fact]
    public void Decode_FlatFp32Data_ReadsLittleEndianElements()
    {
        var decoded = Decode("""{"id":"r1","inputs":[{"name":"INPUT0","datatype":"FP32","shape":[2,2],"data":[1.5,-2,3.25,4]}]}""");

        var input = Assert.Single(decoded.Request.Inputs);
        Assert.Equal("r1", decoded.Request.Id);
        Assert.Equal(DataType.Fp32, input.DataType);
        Assert.Equal([2L, 2L], input.Shape);
        Assert.Equal([1.5f, -2f, 3.25f, 4f], input.ToArray<float>());
    }

    [Fact]
    public void Decode_NestedData_EqualsFlatData()
    {
        var flat = Decode("""{"inputs":[{"name":"x","datatype":"INT64","shape":[2,3],"data":[1,2,3,4,5,6]}]}""");
        var nested = Decode("""{"inputs":[{"name":"x","datatype":"INT64","shape":[2,3],"data":[[1,2,3],[4,5,6]]}]}""");

        Assert.Equal(flat.Request.Inputs[0].Data.ToArray(), nested.Request.Inputs[0].Data.ToArray());
        Assert.Equal([1L, 2, 3, 4, 5, 6], nested.Request.Inputs[0].ToArray<long>());
    }

    [Fact]
    public void Decode_DataBeforeDatatypeAndShape_StillDecodes()
    {
        var decoded = Decode("""{"inputs":[{"data":[true,false,true],"name":"b","shape":[3],"datatype":"BOOL"}]}""");

        Assert.Equal([1, 0, 1], decoded.Request.Inputs[0].Data.ToArray());
    }

    public static TheoryData<string, string, byte[]> Datatypes => new()
    {
        { "BOOL", "[true,false]", [1, 0] },
        { "UINT8", "[0,255]", [0, 255] },
        { "INT8", "[-128,127]", [0x80, 0x7F] },
        { "UINT16", "[1,65535]", [1, 0, 0xFF, 0xFF] },
        { "INT16", "[-1,2]", [0xFF, 0xFF, 2, 0] },
        { "UINT32", "[4294967295,0]", [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0] },
        { "INT32", "[-2,1]", [0xFE, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0] },
        { "UINT64", "[18446744073709551615,1]", [.. Enumerable.Repeat((byte)0xFF, 8), 1, 0, 0, 0, 0, 0, 0, 0] },
        { "INT64", "[-1,2]", [.. Enumerable.Repeat((byte)0xFF, 8), 2, 0, 0, 0, 0, 0, 0, 0] },
        { "FP16", "[1,-2]", [0x00, 0x3C, 0x00, 0xC0] },
        { "BF16", "[1,-2]", [0x80, 0x3F, 0x00, 0xC0] },
        { "FP32", "[1,0.5]", [0, 0, 0x80, 0x3F, 0, 0, 0, 0x3F] },
        { "FP64", "[1,-0.5]", [0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0xE0, 0xBF] },
        { "BYTES", "[\"ab\",\"\"]", [2, 0, 0, 0, (byte)'a', (byte)'b', 0, 0, 0, 0] },
    };

    [Theory]
    [MemberData(nameof(Datatypes))]
    public void Decode_EveryDatatype_ProducesExpectedWireBytes(string datatype, string data, byte[] expected)
    {
        var decoded = Decode($$"""{"inputs":[{"name":"x","datatype":"{{datatype}}","shape":[2],"data":{{data}}}]}""");

        Assert.Equal(expected, decoded.Request.Inputs[0].Data.ToArray());
    }

    [Fact]
    public void Decode_BinaryInputs_SliceTheBodyInInputOrder()
    {
        var header = Encoding.UTF8.GetBytes("""
            {"inputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}},
                       {"name":"b","datatype":"INT32","shape":[1],"parameters":{"binary_data_size":4}}],
             "outputs":[{"name":"y","parameters":{"binary_data":true}}]}
            """);
        var a = MemoryMarshal.AsBytes<float>([1f, 2f]).ToArray();
        var b = MemoryMarshal.AsBytes<int>([7]).ToArray();
        var body = header.Concat(a).Concat(b).ToArray();

        var decoded = InferRequestDecoder.Decode("m", "3", body, header.Length, 32);

        Assert.Equal("3", decoded.Request.ModelVersion);
        Assert.Equal([1f, 2f], decoded.Request.Inputs[0].ToArray<float>());
        Assert.Equal([7], decoded.Request.Inputs[1].ToArray<int>());
        Assert.True(MemoryMarshal.TryGetArray(decoded.Request.Inputs[0].Data, out var segment));
        Assert.Same(body, segment.Array);   // a slice of the body, not a copy
        Assert.Equal(header.Length, segment.Offset);
        Assert.Equal([new RequestedOutput("y", Binary: true)], decoded.Request.Outputs!);
    }

    [Fact]
    public void Decode_BinaryDataOutput_IsTheDefaultForListedOutputsWithoutTheirOwnFlag()
    {
        var decoded = Decode("""
            {"parameters":{"binary_data_output":true},"inputs":[{"name":"x","datatype":"INT32","shape":[1],"data":[1]}],
             "outputs":[{"name":"a"},{"name":"b","parameters":{"binary_data":false}}]}
            """);

        Assert.True(decoded.BinaryDataOutput);
        Assert.Equal([new RequestedOutput("a", true), new RequestedOutput("b", false)], decoded.Request.Outputs!);
    }

    [Fact]
    public void Decode_BinaryBytesInput_WalksTheLengthPrefixes()
    {
        var header = Encoding.UTF8.GetBytes("""{"inputs":[{"name":"s","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":11}}]}""");
        var data = new byte[] { 3, 0, 0, 0, (byte)'a', (byte)'b', (byte)'c', 0, 0, 0, 0 };

        var decoded = InferRequestDecoder.Decode("m", null, (byte[])[.. header, .. data], header.Length, 32);

        Assert.Equal(data, decoded.Request.Inputs[0].Data.ToArray());
    }

    [Theory]
    [InlineData("""{"inputs":[{"name":"x","datatype":"FP32","shape":[3],"data":[1,2]}]}""", "requires 3")]
    [InlineData("""{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1,2]}]}""", "more elements")]
    [InlineData("""{"inputs":[{"name":"x","datatype":"FP32","shape":[1000000000000],"data":[1]}]}""", "fewer elements")]
    [InlineData("""{"inputs":[{"name":"x","datatype":"FP32","shape":[9223372036854775807,2],"data":[1]}]}""", "overflow")]
    [InlineData("""{"inputs":[{"name":"x","datatype":"UINT8","shape":[1],"data":[256]}]}""", "not a valid UINT8")]
    [InlineData("""{"inputs":[{"name":"x","datatype":"TYPE_FP32","shape":[1],"data":[1]}]}""", "datatype")]
    [InlineData("""{"inputs":[{"name":"x","datatype":"FP32","shape":[-1],"data":[1]}]}""", "negative dimension")]
    public void Decode_InvalidTensor_ThrowsInvalidInputNamingTheField(string json, string expected)
    {
        var exception = Assert.Throws<InferenceException>(() => Decode(json));

        Assert.Equal(InferenceError.InvalidInput, exception.Error);
        Assert.Contains(expected, exception.Message);
    }

    [Fact]
    public void Decode_NestingDeeperThanTheLimit_ThrowsInvalidInputNamingTheDepth()
    {
        var json = """{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":""" + new string('[', 40) + "1" + new string(']', 40) + "}]}";

        var exception = Assert.Throws<InferenceException>(() => Decode(json, maxDepth: 32));

        Assert.Contains("nested deeper than 32", exception.Message);
    }

    [Fact]
    public void Decode_HeaderLengthPastTheBody_ThrowsBeforeParsing()
    {
        var exception = Assert.Throws<InferenceException>(() => InferRequestDecoder.Decode("m", null, new byte[10], 11, 32));

        Assert.Contains("Inference-Header-Content-Length", exception.Message);
    }

    [Fact]
    public void Decode_FloatValues_RoundTripThroughTheJsonWriter()
    {
        var values = new[] { 0.1f, -3.4028235e38f, 1e-45f, 123456.79f };
        var tensor = TensorData.From("x", [4], values.AsSpan());
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            TensorJsonCodec.WriteData(writer, tensor);
        }

        var json = Encoding.UTF8.GetString(buffer.WrittenSpan);
        var decoded = Decode($$"""{"inputs":[{"name":"x","datatype":"FP32","shape":[4],"data":{{json}}}]}""");

        Assert.Equal(values, decoded.Request.Inputs[0].ToArray<float>());
    }
}
