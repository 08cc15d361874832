using System.Buffers.Binary;
using Google.Protobuf;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Server.Grpc;
using Sluice.Server.Grpc.Protocol;
using DataType = Sluice.Core.Tensors.DataType;

namespace Sluice.Server.Tests.Grpc;

public sealed class ModelInferRequestDecoderTests
{
    [Fact]
    public void Decode_RawFp32_KeepsBytesShapeAndTimestamp()
    {
        var values = new[] { 1f, -2.5f, 3f, 4f };
        var message = Request("m", Input("x", "FP32", [1, 4]));
        message.RawInputContents.Add(ByteString.CopyFrom(LittleEndian(values)));

        var request = ModelInferRequestDecoder.Decode(message, receivedTimestamp: 1234);

        var tensor = Assert.Single(request.Inputs);
        Assert.Equal(DataType.Fp32, tensor.DataType);
        Assert.Equal([1L, 4L], tensor.Shape);
        Assert.Equal(values, tensor.ToArray<float>());
        Assert.Equal(1234, request.Timestamps.Received);
    }

    public static TheoryData<string, DataType> TypedCases => new()
    {
        { "BOOL", DataType.Bool }, { "INT8", DataType.Int8 }, { "INT16", DataType.Int16 }, { "INT32", DataType.Int32 },
        { "INT64", DataType.Int64 }, { "UINT8", DataType.UInt8 }, { "UINT16", DataType.UInt16 }, { "UINT32", DataType.UInt32 },
        { "UINT64", DataType.UInt64 }, { "FP32", DataType.Fp32 }, { "FP64", DataType.Fp64 },
    };

    [Theory]
    [MemberData(nameof(TypedCases))]
    public void Decode_TypedContents_EqualsIndependentlyEncodedLittleEndianBytes(string datatype, DataType type)
    {
        var input = Input("x", datatype, [3]);
        var expected = new List<byte>();
        var contents = new InferTensorContents();
        for (var i = 0; i < 3; i++)
        {
            // Values 0, 1, 2 written both ways: into the typed field, and by hand as little-endian bytes.
            var size = type.ElementSize();
            var bytes = new byte[size];
            bytes[0] = (byte)i;   // little-endian small non-negative integers and booleans
            switch (type)
            {
                case DataType.Bool: contents.BoolContents.Add(i != 0); bytes[0] = (byte)(i != 0 ? 1 : 0); break;
                case DataType.Int8 or DataType.Int16 or DataType.Int32: contents.IntContents.Add(i); break;
                case DataType.Int64: contents.Int64Contents.Add(i); break;
                case DataType.UInt8 or DataType.UInt16 or DataType.UInt32: contents.UintContents.Add((uint)i); break;
                case DataType.UInt64: contents.Uint64Contents.Add((ulong)i); break;
                case DataType.Fp32: contents.Fp32Contents.Add(i); BinaryPrimitives.WriteSingleLittleEndian(bytes, i); break;
                case DataType.Fp64: contents.Fp64Contents.Add(i); BinaryPrimitives.WriteDoubleLittleEndian(bytes, i); break;
            }

            expected.AddRange(bytes);
        }

        input.Contents = contents;

        var tensor = Assert.Single(ModelInferRequestDecoder.Decode(Request("m", input), 0).Inputs);

        Assert.Equal(type, tensor.DataType);
        Assert.Equal(expected.ToArray(), tensor.Data.ToArray());
    }

    [Fact]
    public void Decode_TypedBytes_WritesLengthPrefixedElements()
    {
        var input = Input("s", "BYTES", [2]);
        input.Contents = new InferTensorContents { BytesContents = { ByteString.CopyFromUtf8("ab"), ByteString.Empty } };

        var tensor = Assert.Single(ModelInferRequestDecoder.Decode(Request("m", input), 0).Inputs);

        Assert.Equal(new byte[] { 2, 0, 0, 0, (byte)'a', (byte)'b', 0, 0, 0, 0 }, tensor.Data.ToArray());
    }

    [Fact]
    public void Decode_Parameters_KeepTheirTypes()
    {
        var message = Request("m", Input("x", "FP32", [0]));
        message.Parameters["timeout"] = new InferParameter { Int64Param = 5000 };
        message.Parameters["flag"] = new InferParameter { BoolParam = true };
        message.Parameters["tag"] = new InferParameter { StringParam = "t" };

        var request = ModelInferRequestDecoder.Decode(message, 0);

        Assert.Equal(5000L, request.Parameters["timeout"]);
        Assert.Equal(true, request.Parameters["flag"]);
        Assert.Equal("t", request.Parameters["tag"]);
    }

    [Fact]
    public void Decode_Int8OutOfRange_NamesElement()
    {
        var input = Input("x", "INT8", [1]);
        input.Contents = new InferTensorContents { IntContents = { 300 } };

        var error = Assert.Throws<InferenceException>(() => ModelInferRequestDecoder.Decode(Request("m", input), 0));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("int_contents[0]", error.Message);
    }

    [Fact]
    public void Decode_ShapeProductOverflows_RejectedBeforeAllocation()
    {
        var message = Request("m", Input("x", "FP32", [long.MaxValue / 2, 3]));
        message.RawInputContents.Add(ByteString.CopyFrom(new byte[4]));

        var error = Assert.Throws<InferenceException>(() => ModelInferRequestDecoder.Decode(message, 0));

        Assert.Contains("inputs[0]", error.Message);
        Assert.Contains("overflows", error.Message);
    }

    [Fact]
    public void Printable_ControlCharacters_AreEscaped()
    {
        Assert.Equal("a\\u0000b", ModelInferRequestDecoder.Printable("a\0b"));
    }

    internal static ModelInferRequest Request(string model, params ModelInferRequest.Types.InferInputTensor[] inputs)
    {
        var message = new ModelInferRequest { ModelName = model };
        message.Inputs.Add(inputs);
        return message;
    }

    internal static ModelInferRequest.Types.InferInputTensor Input(string name, string datatype, long[] shape)
    {
        var input = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = datatype };
        input.Shape.Add(shape);
        return input;
    }

    internal static byte[] LittleEndian(float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return bytes;
    }
}
