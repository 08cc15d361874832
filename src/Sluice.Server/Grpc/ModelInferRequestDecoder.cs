using System.Buffers.Binary;
using Google.Protobuf;
using Google.Protobuf.Collections;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Server.Grpc.Protocol;
using DataType = Sluice.Core.Tensors.DataType;

namespace Sluice.Server.Grpc;

/// <summary>
/// Turns a wire <see cref="ModelInferRequest"/> into our protocol-neutral <see cref="InferenceRequest"/>. Pure: checks what the
/// wire format itself can be wrong about (names, datatypes, shapes, sizes, raw vs typed contents); whether the tensors fit the
/// model is the engine's job.
/// </summary>
/// <remarks>
/// Every size is computed with overflow-checked arithmetic and compared to the bytes actually received before anything is
/// allocated, so a client's numbers never size an allocation. Raw contents are not copied: a <see cref="ByteString"/> is
/// immutable, and its memory becomes the tensor's data. Failures throw <see cref="InferenceException"/> with
/// <see cref="InferenceError.InvalidInput"/> and a message that starts with the offending field.
/// </remarks>
internal static class ModelInferRequestDecoder
{
    /// <summary>Longest model name accepted, as most file systems limit a folder name.</summary>
    private const int MaxModelNameLength = 255;

    /// <summary>Most dimensions one tensor may have (ONNX Runtime's own limit is far above any real model).</summary>
    private const int MaxRank = 64;

    /// <summary>Decodes <paramref name="message"/>; <paramref name="receivedTimestamp"/> becomes <see cref="RequestTimestamps.Received"/>.</summary>
    public static InferenceRequest Decode(ModelInferRequest message, long receivedTimestamp)
    {
        ValidateModelName(message.ModelName, "model_name");
        ValidateModelVersion(message.ModelVersion, "model_version");

        // :: Step 1: decide where the data is. Raw contents are all-or-nothing, one entry per input in order.
        var useRaw = message.RawInputContents.Count > 0;
        if (useRaw && message.RawInputContents.Count != message.Inputs.Count)
        {
            throw Invalid($"raw_input_contents: {message.RawInputContents.Count} entries for {message.Inputs.Count} inputs; when used, it must hold exactly one entry per input, in order");
        }

        // :: Step 2: decode each input.
        var inputs = new TensorData[message.Inputs.Count];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < message.Inputs.Count; i++)
        {
            var input = message.Inputs[i];
            var field = $"inputs[{i}]";
            if (string.IsNullOrEmpty(input.Name))
            {
                throw Invalid($"{field}.name: an input name is required");
            }

            if (!seen.Add(input.Name))
            {
                throw Invalid($"{field}.name: input '{Printable(input.Name)}' is given more than once");
            }

            field = $"inputs[{i}] ('{Printable(input.Name)}')";
            var type = ParseDatatype(input.Datatype, field);
            var shape = ParseShape(input.Shape, field, out var elementCount);
            inputs[i] = useRaw
                ? DecodeRaw(input, type, shape, elementCount, message.RawInputContents[i], field, i)
                : DecodeTyped(input, type, shape, elementCount, field);
        }

        // :: Step 3: requested outputs (names only; gRPC always answers in raw_output_contents).
        List<RequestedOutput>? outputs = null;
        if (message.Outputs.Count > 0)
        {
            outputs = new List<RequestedOutput>(message.Outputs.Count);
            var seenOutputs = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < message.Outputs.Count; i++)
            {
                var name = message.Outputs[i].Name;
                if (string.IsNullOrEmpty(name))
                {
                    throw Invalid($"outputs[{i}].name: an output name is required");
                }

                if (!seenOutputs.Add(name))
                {
                    throw Invalid($"outputs[{i}].name: output '{Printable(name)}' is requested more than once");
                }

                outputs.Add(new RequestedOutput(name));
            }
        }

        var request = new InferenceRequest
        {
            ModelName = message.ModelName,
            ModelVersion = string.IsNullOrEmpty(message.ModelVersion) ? null : message.ModelVersion,
            Id = message.Id,
            Inputs = inputs,
            Outputs = outputs,
            Parameters = DecodeParameters(message.Parameters),
        };
        request.Timestamps.Received = receivedTimestamp;
        return request;
    }

    /// <summary>Rejects names that could never be a model folder: empty, too long, path separators, dot names, control characters.</summary>
    public static void ValidateModelName(string name, string field)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw Invalid($"{field}: a model name is required");
        }

        if (name.Length > MaxModelNameLength)
        {
            throw Invalid($"{field}: the model name is longer than {MaxModelNameLength} characters");
        }

        if (name is "." or ".." || name.AsSpan().IndexOfAny("/\\:") >= 0 || name.Any(char.IsControl))
        {
            throw Invalid($"{field}: '{Printable(name)}' is not a valid model name (no path separators, dot names or control characters)");
        }
    }

    /// <summary>A version is empty (the server picks) or a non-negative decimal number.</summary>
    public static void ValidateModelVersion(string version, string field)
    {
        if (version.Length == 0)
        {
            return;
        }

        if (version.Length > 19 || !version.All(char.IsAsciiDigit))
        {
            throw Invalid($"{field}: '{Printable(version)}' is not a version number");
        }
    }

    private static DataType ParseDatatype(string name, string field)
    {
        // The wire carries KServe names only (FP32), never Triton's config names (TYPE_FP32).
        if (!DataTypes.TryParse(name, out var type) || type.ToKServeName() != name)
        {
            throw Invalid($"{field}.datatype: '{Printable(name)}' is not a tensor datatype (BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BF16, BYTES)");
        }

        return type;
    }

    private static long[] ParseShape(RepeatedField<long> dims, string field, out long elementCount)
    {
        if (dims.Count > MaxRank)
        {
            throw Invalid($"{field}.shape: {dims.Count} dimensions; at most {MaxRank} are accepted");
        }

        var shape = new long[dims.Count];
        for (var d = 0; d < dims.Count; d++)
        {
            if (dims[d] < 0)
            {
                throw Invalid($"{field}.shape: dimension {d} is {dims[d]}; dimensions of a request tensor must not be negative");
            }

            shape[d] = dims[d];
        }

        if (!TensorShape.TryGetElementCount(shape, out elementCount))
        {
            throw Invalid($"{field}.shape: the element count of {TensorShape.Format(shape)} overflows");
        }

        return shape;
    }

    private static TensorData DecodeRaw(
        ModelInferRequest.Types.InferInputTensor input, DataType type, long[] shape, long elementCount, ByteString raw, string field, int index)
    {
        if (input.Contents is not null && ContentsCount(input.Contents) > 0)
        {
            throw Invalid($"{field}.contents: typed contents may not be combined with raw_input_contents; send every input one way");
        }

        var rawField = $"raw_input_contents[{index}]";
        if (type == DataType.Bytes)
        {
            CheckBytesElements(raw.Span, elementCount, rawField, field);
        }
        else
        {
            if (!TensorShape.TryGetByteSize(type, shape, out var expected))
            {
                throw Invalid($"{field}.shape: the byte size of {TensorShape.Format(shape)} x {type.ElementSize()} bytes overflows");
            }

            if (raw.Length != expected)
            {
                throw Invalid($"{rawField}: {raw.Length} bytes for {field}, but shape {TensorShape.Format(shape)} of {type.ToKServeName()} needs {expected}");
            }
        }

        return new TensorData(input.Name, type, shape, raw.Memory);
    }

    /// <summary>Walks BYTES elements (4-byte little-endian length, then the bytes) checking every length against what remains.</summary>
    private static void CheckBytesElements(ReadOnlySpan<byte> data, long elementCount, string rawField, string field)
    {
        long seen = 0;
        var offset = 0;
        while (offset < data.Length)
        {
            if (data.Length - offset < sizeof(uint))
            {
                throw Invalid($"{rawField}: element {seen} of {field} has a truncated 4-byte length prefix at byte {offset}");
            }

            var length = BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]);
            offset += sizeof(uint);
            if (length > (uint)(data.Length - offset))
            {
                throw Invalid($"{rawField}: element {seen} of {field} declares {length} bytes at byte {offset}, past the end of the {data.Length}-byte buffer");
            }

            offset += (int)length;
            seen++;
        }

        if (seen != elementCount)
        {
            throw Invalid($"{rawField}: {seen} BYTES elements for {field}, but its shape needs {elementCount}");
        }
    }

    private static TensorData DecodeTyped(
        ModelInferRequest.Types.InferInputTensor input, DataType type, long[] shape, long elementCount, string field)
    {
        var contents = input.Contents ?? new InferTensorContents();
        var expectedField = ContentsFieldFor(type);
        var given = GivenContentsFields(contents);
        if (given.Count > 1)
        {
            throw Invalid($"{field}.contents: several typed fields are set ({string.Join(", ", given)}); datatype {type.ToKServeName()} uses {expectedField ?? "raw_input_contents only"}");
        }

        if (given.Count == 1 && given[0] != expectedField)
        {
            throw Invalid(expectedField is null
                ? $"{field}.contents: datatype {type.ToKServeName()} has no typed contents field; send it in raw_input_contents"
                : $"{field}.contents: datatype {type.ToKServeName()} expects {expectedField}, but {given[0]} was given");
        }

        if (given.Count == 0 && elementCount > 0)
        {
            throw Invalid($"{field}.contents: no data for shape {TensorShape.Format(shape)}; set {expectedField ?? "raw_input_contents"}");
        }

        var count = ContentsCount(contents);
        if (count != elementCount)
        {
            throw Invalid($"{field}.contents.{expectedField}: {count} elements, but shape {TensorShape.Format(shape)} needs {elementCount}");
        }

        // elementCount now equals a count protobuf already holds in memory; the byte size may still exceed one array.
        if (type != DataType.Bytes && (!TensorShape.TryGetByteSize(type, shape, out var byteSize) || byteSize > Array.MaxLength))
        {
            throw Invalid($"{field}.shape: {TensorShape.Format(shape)} of {type.ToKServeName()} is larger than one tensor may be");
        }

        var n = (int)elementCount;
        var contentsField = $"{field}.contents.{expectedField}";
        byte[] bytes;
        switch (type)
        {
            case DataType.Bool:
                bytes = new byte[n];
                for (var e = 0; e < n; e++) bytes[e] = contents.BoolContents[e] ? (byte)1 : (byte)0;
                break;
            case DataType.Int8:
                bytes = new byte[n];
                for (var e = 0; e < n; e++) bytes[e] = unchecked((byte)(sbyte)InRange(contents.IntContents[e], sbyte.MinValue, sbyte.MaxValue, contentsField, e, type));
                break;
            case DataType.Int16:
                bytes = new byte[n * 2];
                for (var e = 0; e < n; e++) BinaryPrimitives.WriteInt16LittleEndian(bytes.AsSpan(e * 2), (short)InRange(contents.IntContents[e], short.MinValue, short.MaxValue, contentsField, e, type));
                break;
            case DataType.Int32:
                bytes = new byte[n * 4];
                for (var e = 0; e < n; e++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(e * 4), contents.IntContents[e]);
                break;
            case DataType.Int64:
                bytes = new byte[n * 8];
                for (var e = 0; e < n; e++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(e * 8), contents.Int64Contents[e]);
                break;
            case DataType.UInt8:
                bytes = new byte[n];
                for (var e = 0; e < n; e++) bytes[e] = (byte)InRange(contents.UintContents[e], byte.MaxValue, contentsField, e, type);
                break;
            case DataType.UInt16:
                bytes = new byte[n * 2];
                for (var e = 0; e < n; e++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(e * 2), (ushort)InRange(contents.UintContents[e], ushort.MaxValue, contentsField, e, type));
                break;
            case DataType.UInt32:
                bytes = new byte[n * 4];
                for (var e = 0; e < n; e++) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(e * 4), contents.UintContents[e]);
                break;
            case DataType.UInt64:
                bytes = new byte[n * 8];
                for (var e = 0; e < n; e++) BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(e * 8), contents.Uint64Contents[e]);
                break;
            case DataType.Fp32:
                bytes = new byte[n * 4];
                for (var e = 0; e < n; e++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(e * 4), contents.Fp32Contents[e]);
                break;
            case DataType.Fp64:
                bytes = new byte[n * 8];
                for (var e = 0; e < n; e++) BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(e * 8), contents.Fp64Contents[e]);
                break;
            case DataType.Bytes:
                bytes = EncodeBytesElements(contents.BytesContents);
                break;
            default:
                // FP16 / BF16 with zero elements: nothing to convert.
                bytes = [];
                break;
        }

        return new TensorData(input.Name, type, shape, bytes);
    }

    private static byte[] EncodeBytesElements(RepeatedField<ByteString> elements)
    {
        long total = 0;
        foreach (var element in elements)
        {
            total = checked(total + sizeof(uint) + element.Length);   // bounded by the message size already received
        }

        if (total > Array.MaxLength)
        {
            throw Invalid($"bytes_contents: {total} bytes in all is larger than one tensor may be");
        }

        var bytes = new byte[total];
        var offset = 0;
        foreach (var element in elements)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offset), (uint)element.Length);
            offset += sizeof(uint);
            element.Span.CopyTo(bytes.AsSpan(offset));
            offset += element.Length;
        }

        return bytes;
    }

    private static int InRange(int value, int min, int max, string field, int element, DataType type) =>
        value >= min && value <= max
            ? value
            : throw Invalid($"{field}[{element}]: {value} is out of range for {type.ToKServeName()}");

    private static uint InRange(uint value, uint max, string field, int element, DataType type) =>
        value <= max
            ? value
            : throw Invalid($"{field}[{element}]: {value} is out of range for {type.ToKServeName()}");

    /// <summary>The typed contents field Triton defines for a datatype; null for FP16/BF16, which travel raw only.</summary>
    internal static string? ContentsFieldFor(DataType type) => type switch
    {
        DataType.Bool => "bool_contents",
        DataType.Int8 or DataType.Int16 or DataType.Int32 => "int_contents",
        DataType.Int64 => "int64_contents",
        DataType.UInt8 or DataType.UInt16 or DataType.UInt32 => "uint_contents",
        DataType.UInt64 => "uint64_contents",
        DataType.Fp32 => "fp32_contents",
        DataType.Fp64 => "fp64_contents",
        DataType.Bytes => "bytes_contents",
        _ => null,
    };

    private static List<string> GivenContentsFields(InferTensorContents c)
    {
        var given = new List<string>(1);
        if (c.BoolContents.Count > 0) given.Add("bool_contents");
        if (c.IntContents.Count > 0) given.Add("int_contents");
        if (c.Int64Contents.Count > 0) given.Add("int64_contents");
        if (c.UintContents.Count > 0) given.Add("uint_contents");
        if (c.Uint64Contents.Count > 0) given.Add("uint64_contents");
        if (c.Fp32Contents.Count > 0) given.Add("fp32_contents");
        if (c.Fp64Contents.Count > 0) given.Add("fp64_contents");
        if (c.BytesContents.Count > 0) given.Add("bytes_contents");
        return given;
    }

    private static long ContentsCount(InferTensorContents c) =>
        (long)c.BoolContents.Count + c.IntContents.Count + c.Int64Contents.Count + c.UintContents.Count
        + c.Uint64Contents.Count + c.Fp32Contents.Count + c.Fp64Contents.Count + c.BytesContents.Count;

    private static IReadOnlyDictionary<string, object?> DecodeParameters(MapField<string, InferParameter> parameters)
    {
        if (parameters.Count == 0)
        {
            return EmptyParameters;
        }

        var result = new Dictionary<string, object?>(parameters.Count, StringComparer.Ordinal);
        foreach (var (key, value) in parameters)
        {
            result[key] = value.ParameterChoiceCase switch
            {
                InferParameter.ParameterChoiceOneofCase.BoolParam => value.BoolParam,
                InferParameter.ParameterChoiceOneofCase.Int64Param => value.Int64Param,
                InferParameter.ParameterChoiceOneofCase.StringParam => value.StringParam,
                InferParameter.ParameterChoiceOneofCase.DoubleParam => value.DoubleParam,
                InferParameter.ParameterChoiceOneofCase.Uint64Param => value.Uint64Param,
                _ => null,
            };
        }

        return result;
    }

    private static readonly IReadOnlyDictionary<string, object?> EmptyParameters = new Dictionary<string, object?>();

    /// <summary>A client's string made safe to echo: control characters escaped, length capped.</summary>
    internal static string Printable(string value)
    {
        const int MaxEcho = 64;
        var builder = new System.Text.StringBuilder(Math.Min(value.Length, MaxEcho) + 8);
        foreach (var ch in value.Length > MaxEcho ? value[..MaxEcho] : value)
        {
            if (char.IsControl(ch))
            {
                builder.Append("\\u").Append(((int)ch).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append(ch);
            }
        }

        if (value.Length > MaxEcho)
        {
            builder.Append('…');
        }

        return builder.ToString();
    }

    private static InferenceException Invalid(string message) => new(InferenceError.InvalidInput, message);
}
