using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;

namespace Sluice.Server.Http;

/// <summary>A decoded KServe v2 infer request and how the client wants its outputs encoded.</summary>
/// <param name="Request">The protocol-neutral request.</param>
/// <param name="BinaryDataOutput">The request-level <c>binary_data_output</c>: the default for outputs that do not say.</param>
internal sealed record DecodedInferRequest(InferenceRequest Request, bool BinaryDataOutput);

/// <summary>
/// Decodes a KServe v2 infer request body: JSON tensors (flat or nested <c>data</c>) and the binary tensor extension
/// (<c>Inference-Header-Content-Length</c> and per-input <c>binary_data_size</c>).
/// </summary>
/// <remarks>
/// Every size a client states is checked against the bytes actually present, with overflow-checked arithmetic, before
/// anything is allocated from it. Binary inputs are slices of the body buffer: no per-element work. Failures throw
/// <see cref="InferenceException"/> with <see cref="InferenceError.InvalidInput"/> and a message naming the field.
/// </remarks>
internal static class InferRequestDecoder
{
    /// <summary>Decodes one request.</summary>
    /// <param name="modelName">The model from the route (already validated).</param>
    /// <param name="modelVersion">The version from the route, or null.</param>
    /// <param name="body">The whole request body.</param>
    /// <param name="headerLength">The <c>Inference-Header-Content-Length</c> value, or null when the body is all JSON.</param>
    /// <param name="maxDepth">The JSON nesting limit.</param>
    public static DecodedInferRequest Decode(string modelName, string? modelVersion, ReadOnlyMemory<byte> body, long? headerLength, int maxDepth)
    {
        // :: Step 1: split the body into the JSON header and the binary part.
        var jsonLength = body.Length;
        if (headerLength is { } declared)
        {
            if (declared < 0)
            {
                throw Invalid($"{HttpHeaderNames.InferenceHeaderContentLength} must not be negative, got {declared}");
            }

            if (declared > body.Length)
            {
                throw Invalid($"{HttpHeaderNames.InferenceHeaderContentLength} ({declared}) is larger than the request body ({body.Length} bytes)");
            }

            jsonLength = (int)declared;
        }

        if (jsonLength == 0)
        {
            throw Invalid("the request body is empty; expected a JSON object with 'inputs'");
        }

        var json = body[..jsonLength];
        var binary = body[jsonLength..];

        // :: Step 2: parse the JSON header; binary inputs take consecutive slices of the binary part in input order.
        var reader = new Utf8JsonReader(json.Span, new JsonReaderOptions { MaxDepth = maxDepth, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            return ReadRequest(ref reader, modelName, modelVersion, body, jsonLength, binary.Length);
        }
        catch (JsonException exception)
        {
            throw Invalid(exception.Message.Contains("maximum configured depth", StringComparison.OrdinalIgnoreCase)
                ? $"the request JSON is nested deeper than {maxDepth} levels"
                : $"the request is not valid JSON: {Describe(exception)}");
        }
    }

    private static DecodedInferRequest ReadRequest(ref Utf8JsonReader reader, string modelName, string? modelVersion, ReadOnlyMemory<byte> body, int binaryStart, int binaryLength)
    {
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw Invalid("the request must be a JSON object with 'inputs'");
        }

        var id = "";
        List<TensorData>? inputs = null;
        List<RequestedOutput>? outputs = null;
        Dictionary<string, object?>? parameters = null;
        var binaryDataOutput = false;
        var binaryOffset = (long)binaryStart;
        var binaryEnd = (long)binaryStart + binaryLength;
        List<(int Index, OutputSpec Spec)>? outputSpecs = null;

        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            var property = reader.GetString()!;
            reader.Read();
            switch (property)
            {
                case "id":
                    id = reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw Invalid("'id' must be a string");
                    break;
                case "parameters":
                    parameters = ReadParameters(ref reader, "parameters");
                    if (parameters.TryGetValue("binary_data_output", out var value))
                    {
                        binaryDataOutput = value is bool flag ? flag : throw Invalid("'parameters.binary_data_output' must be a boolean");
                    }

                    break;
                case "inputs":
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        throw Invalid("'inputs' must be an array");
                    }

                    inputs = [];
                    while (Next(ref reader) != JsonTokenType.EndArray)
                    {
                        inputs.Add(ReadInput(ref reader, inputs.Count, body, binaryStart, ref binaryOffset, binaryEnd));
                    }

                    break;
                case "outputs":
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        throw Invalid("'outputs' must be an array");
                    }

                    outputSpecs = [];
                    while (Next(ref reader) != JsonTokenType.EndArray)
                    {
                        outputSpecs.Add((outputSpecs.Count, ReadOutput(ref reader, outputSpecs.Count)));
                    }

                    break;
                default:
                    reader.Skip();   // unknown fields are ignored, as the protocol allows extensions
                    break;
            }
        }

        if (reader.Read())
        {
            throw Invalid("the request JSON has content after its closing brace");
        }

        if (inputs is null)
        {
            throw Invalid("'inputs' is missing");
        }

        if (inputs.Count == 0)
        {
            throw Invalid("'inputs' is empty");
        }

        if (binaryOffset != binaryEnd)
        {
            throw Invalid($"the body holds {binaryEnd - binaryOffset} bytes of binary data that no input's 'binary_data_size' accounts for");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            if (!names.Add(input.Name))
            {
                throw Invalid($"input '{input.Name}' appears more than once in 'inputs'");
            }
        }

        if (outputSpecs is not null)
        {
            outputs = new List<RequestedOutput>(outputSpecs.Count);
            names.Clear();
            foreach (var (_, spec) in outputSpecs)
            {
                if (!names.Add(spec.Name))
                {
                    throw Invalid($"output '{spec.Name}' appears more than once in 'outputs'");
                }

                outputs.Add(new RequestedOutput(spec.Name, spec.Binary ?? binaryDataOutput));
            }
        }

        var request = new InferenceRequest
        {
            ModelName = modelName,
            ModelVersion = modelVersion,
            Id = id,
            Inputs = inputs,
            Outputs = outputs,
            Parameters = (IReadOnlyDictionary<string, object?>?)parameters ?? new Dictionary<string, object?>(),
        };
        return new DecodedInferRequest(request, binaryDataOutput);
    }

    private readonly record struct OutputSpec(string Name, bool? Binary);

    private static OutputSpec ReadOutput(ref Utf8JsonReader reader, int index)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Invalid($"outputs[{index}] must be an object");
        }

        string? name = null;
        bool? binary = null;
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            var property = reader.GetString()!;
            reader.Read();
            switch (property)
            {
                case "name":
                    name = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw Invalid($"outputs[{index}].name must be a string");
                    break;
                case "parameters":
                    var parameters = ReadParameters(ref reader, $"outputs[{index}].parameters");
                    if (parameters.TryGetValue("binary_data", out var value))
                    {
                        binary = value is bool flag ? flag : throw Invalid($"outputs[{index}].parameters.binary_data must be a boolean");
                    }

                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        if (string.IsNullOrEmpty(name))
        {
            throw Invalid($"outputs[{index}].name is missing");
        }

        return new OutputSpec(name, binary);
    }

    private static TensorData ReadInput(ref Utf8JsonReader reader, int index, ReadOnlyMemory<byte> body, int binaryStart, ref long binaryOffset, long binaryEnd)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Invalid($"inputs[{index}] must be an object");
        }

        string? name = null;
        string? datatype = null;
        long[]? shape = null;
        long? binaryDataSize = null;
        var hasData = false;
        var dataReader = default(Utf8JsonReader);
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            var property = reader.GetString()!;
            reader.Read();
            switch (property)
            {
                case "name":
                    name = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw Invalid($"inputs[{index}].name must be a string");
                    break;
                case "datatype":
                    datatype = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw Invalid($"inputs[{index}].datatype must be a string");
                    break;
                case "shape":
                    shape = ReadShape(ref reader, index);
                    break;
                case "parameters":
                    var parameters = ReadParameters(ref reader, $"inputs[{index}].parameters");
                    if (parameters.TryGetValue("binary_data_size", out var size))
                    {
                        binaryDataSize = size is long bytes && bytes >= 0
                            ? bytes
                            : throw Invalid($"inputs[{index}].parameters.binary_data_size must be a non-negative integer");
                    }

                    break;
                case "data":
                    hasData = true;
                    dataReader = reader;   // decoded once datatype and shape are known, whatever the property order
                    reader.Skip();
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        var label = name is null ? $"inputs[{index}]" : $"input '{name}'";
        if (string.IsNullOrEmpty(name))
        {
            throw Invalid($"inputs[{index}].name is missing");
        }

        if (datatype is null)
        {
            throw Invalid($"{label}: 'datatype' is missing");
        }

        if (!DataTypes.TryParse(datatype, out var type) || type.ToKServeName() != datatype)
        {
            throw Invalid($"{label}: 'datatype' '{Truncate(datatype)}' is not a KServe v2 datatype (BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BF16, BYTES)");
        }

        if (shape is null)
        {
            throw Invalid($"{label}: 'shape' is missing");
        }

        if (!TensorShape.TryGetElementCount(shape, out var elementCount))
        {
            throw Invalid($"{label}: 'shape' {TensorShape.Format(shape)} has too many elements (the product overflows)");
        }

        if (binaryDataSize is { } byteCount)
        {
            if (hasData)
            {
                throw Invalid($"{label}: has both 'data' and 'parameters.binary_data_size'; send one");
            }

            var remaining = binaryEnd - binaryOffset;
            if (byteCount > remaining)
            {
                throw Invalid($"{label}: 'binary_data_size' {byteCount} is past the end of the body ({remaining} binary bytes remain)");
            }

            var data = body.Slice((int)binaryOffset, (int)byteCount);
            binaryOffset += byteCount;
            CheckBinarySize(label, type, shape, elementCount, data.Span);
            return new TensorData(name, type, shape, data);
        }

        if (!hasData)
        {
            throw Invalid($"{label}: 'data' is missing (or give 'parameters.binary_data_size' for binary data)");
        }

        return new TensorData(name, type, shape, TensorJsonCodec.ReadData(ref dataReader, label, type, shape, elementCount, maxElements: binaryStart / 2 + 1));
    }

    /// <summary>Checks that binary bytes hold exactly the elements the shape says; for BYTES, walks the length prefixes.</summary>
    private static void CheckBinarySize(string label, DataType type, long[] shape, long elementCount, ReadOnlySpan<byte> data)
    {
        if (type != DataType.Bytes)
        {
            if (!TensorShape.TryGetByteSize(type, shape, out var expected))
            {
                throw Invalid($"{label}: 'shape' {TensorShape.Format(shape)} is too large for {type.ToKServeName()}");
            }

            if (expected != data.Length)
            {
                throw Invalid($"{label}: 'binary_data_size' is {data.Length} bytes but 'shape' {TensorShape.Format(shape)} of {type.ToKServeName()} needs {expected}");
            }

            return;
        }

        long count = 0;
        var rest = data;
        while (rest.Length > 0)
        {
            if (rest.Length < 4)
            {
                throw Invalid($"{label}: binary BYTES data ends inside an element's 4-byte length");
            }

            var length = BinaryPrimitives.ReadUInt32LittleEndian(rest);
            if (length > rest.Length - 4)
            {
                throw Invalid($"{label}: binary BYTES element {count} says {length} bytes but only {rest.Length - 4} remain");
            }

            rest = rest[(4 + (int)length)..];
            count++;
        }

        if (count != elementCount)
        {
            throw Invalid($"{label}: binary BYTES data holds {count} elements but 'shape' {TensorShape.Format(shape)} needs {elementCount}");
        }
    }

    private static long[] ReadShape(ref Utf8JsonReader reader, int index)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw Invalid($"inputs[{index}].shape must be an array of integers");
        }

        var dims = new List<long>(4);
        while (Next(ref reader) != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var dim))
            {
                throw Invalid($"inputs[{index}].shape must be an array of integers");
            }

            if (dim < 0)
            {
                throw Invalid($"inputs[{index}].shape has a negative dimension {dim}");
            }

            if (dims.Count == 64)
            {
                throw Invalid($"inputs[{index}].shape has more than 64 dimensions");
            }

            dims.Add(dim);
        }

        return [.. dims];
    }

    /// <summary>Reads a KServe <c>parameters</c> object: string, integer, number or boolean values.</summary>
    private static Dictionary<string, object?> ReadParameters(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Invalid($"'{field}' must be an object");
        }

        var parameters = new Dictionary<string, object?>(StringComparer.Ordinal);
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            var key = reader.GetString()!;
            reader.Read();
            parameters[key] = reader.TokenType switch
            {
                JsonTokenType.String => reader.GetString(),
                JsonTokenType.True => true,
                JsonTokenType.False => false,
                JsonTokenType.Null => null,
                JsonTokenType.Number => reader.TryGetInt64(out var integer) ? (object)integer : reader.GetDouble(),
                _ => throw Invalid($"'{field}.{Truncate(key)}' must be a string, number or boolean"),
            };
        }

        return parameters;
    }

    /// <summary>Advances to the next token, which inside an object is a property name or the end of the object.</summary>
    private static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read())
        {
            throw Invalid("the request JSON ends early");
        }

        return reader.TokenType;
    }

    internal static InferenceException Invalid(string message) => new(InferenceError.InvalidInput, message);

    internal static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "…";

    /// <summary>A parse error without the exception's type name; the reader's message names line and byte position.</summary>
    private static string Describe(JsonException exception)
    {
        var message = exception.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}

/// <summary>HTTP header names of the KServe v2 binary tensor extension and Sluice's timing headers.</summary>
internal static class HttpHeaderNames
{
    public const string InferenceHeaderContentLength = "Inference-Header-Content-Length";
    public const string Timing = "Sluice-Timing";
    public const string QueueUs = "Sluice-Queue-Us";
    public const string ComputeInputUs = "Sluice-Compute-Input-Us";
    public const string ComputeInferUs = "Sluice-Compute-Infer-Us";
    public const string ComputeOutputUs = "Sluice-Compute-Output-Us";
    public const string BatchSize = "Sluice-Batch-Size";
}
