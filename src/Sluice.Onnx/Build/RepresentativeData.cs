using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Build;

/// <summary>One model input sample: a value for every graph input.</summary>
public sealed record InputSample(IReadOnlyList<TensorData> Inputs);

/// <summary>
/// Representative inputs for calibration and the accuracy gate: read from a folder (<c>.npy</c> per input or KServe v2 JSON
/// request bodies) or made up from the model's input metadata.
/// </summary>
/// <remarks>
/// Folder layouts: <c>&lt;input&gt;.npy</c> files whose first dimension counts rows (grouped into samples of
/// <c>batch</c> rows); sub-folders each holding one sample's <c>&lt;input&gt;.npy</c> files; or <c>*.json</c> files, each
/// a KServe v2 inference request (<c>{"inputs": [{"name", "shape", "datatype", "data"}]}</c>).
/// Synthetic data: token-id inputs (names with <c>ids</c>) get random ids below the vocabulary size read from the embedding
/// table they index, masks ones, token types zeros, other integers zeros, floats standard normal.
/// </remarks>
public static class RepresentativeData
{
    /// <summary>Synthetic samples for <paramref name="model"/>'s inputs.</summary>
    /// <param name="shapes">Concrete shape per input (e.g. a profile's opt shape); inputs not listed use
    /// <paramref name="batch"/> for the first symbolic dim and <paramref name="sequence"/> for the others.</param>
    public static List<InputSample> Synthetic(ModelProto model, int count, int batch, int sequence, int seed,
        IReadOnlyDictionary<string, long[]>? shapes = null)
    {
        var random = new Random(seed);
        var initializers = OnnxModelFile.Initializers(model.Graph);
        var graphInputs = model.Graph.Input.Where(i => !initializers.ContainsKey(i.Name)).ToList();
        var vocab = VocabularySizes(model.Graph, initializers);
        var samples = new List<InputSample>(count);
        for (var s = 0; s < count; s++)
        {
            var tensors = new List<TensorData>(graphInputs.Count);
            foreach (var input in graphInputs)
            {
                var tensorType = input.Type.TensorType;
                if (!OnnxDataTypes.TryFromOnnx(tensorType.ElemType, out var type) || type == DataType.Bytes)
                {
                    throw new NotSupportedException($"Input '{input.Name}' has a type synthetic data cannot be made for; pass --data.");
                }

                var shape = shapes?.GetValueOrDefault(input.Name) ?? ShapeOf(tensorType.Shape, batch, sequence);
                tensors.Add(Fill(input.Name, type, shape, vocab.GetValueOrDefault(input.Name, 30000), random));
            }

            samples.Add(new InputSample(tensors));
        }

        return samples;
    }

    /// <summary>Reads samples from <paramref name="folder"/> (see the remarks of <see cref="RepresentativeData"/>).</summary>
    public static List<InputSample> Load(string folder, ModelProto model, int batch)
    {
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"--data folder '{Path.GetFileName(folder)}' does not exist.");
        }

        var expected = ExpectedTypes(model);
        var json = Directory.GetFiles(folder, "*.json").Order(StringComparer.Ordinal).ToList();
        if (json.Count > 0)
        {
            return [.. json.Select(file => ReadJsonSample(file, expected))];
        }

        var subfolders = Directory.GetDirectories(folder).Order(StringComparer.Ordinal).Where(d => Directory.GetFiles(d, "*.npy").Length > 0).ToList();
        if (subfolders.Count > 0)
        {
            return [.. subfolders.Select(d => new InputSample([.. expected.Select(e => Npy.Read(Path.Combine(d, e.Key + ".npy"), e.Key, e.Value))]))];
        }

        var columns = expected.Select(e => Npy.Read(Path.Combine(folder, e.Key + ".npy"), e.Key, e.Value)).ToList();
        return SplitRows(columns, batch);
    }

    /// <summary>Splits tensors whose first dimension counts rows into samples of <paramref name="batch"/> rows.</summary>
    public static List<InputSample> SplitRows(IReadOnlyList<TensorData> columns, int batch)
    {
        var rows = columns[0].Shape[0];
        if (columns.Any(c => c.Shape.Length == 0 || c.Shape[0] != rows))
        {
            throw new InvalidDataException("Every input's .npy file must have the same number of rows (first dimension).");
        }

        var samples = new List<InputSample>();
        for (long start = 0; start < rows; start += batch)
        {
            var take = Math.Min(batch, rows - start);
            samples.Add(new InputSample([.. columns.Select(c =>
            {
                var rowBytes = c.Data.Length / rows;
                var shape = c.Shape.ToArray();
                shape[0] = take;
                return new TensorData(c.Name, c.DataType, shape, c.Data.Slice((int)(start * rowBytes), (int)(take * rowBytes)));
            })]));
        }

        return samples;
    }

    private static Dictionary<string, DataType> ExpectedTypes(ModelProto model)
    {
        var initializers = OnnxModelFile.Initializers(model.Graph);
        var result = new Dictionary<string, DataType>(StringComparer.Ordinal);
        foreach (var input in model.Graph.Input.Where(i => !initializers.ContainsKey(i.Name)))
        {
            OnnxDataTypes.TryFromOnnx(input.Type.TensorType.ElemType, out var type);
            result[input.Name] = type;
        }

        return result;
    }

    private static InputSample ReadJsonSample(string file, Dictionary<string, DataType> expected)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(file));
        if (!document.RootElement.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"{Path.GetFileName(file)}: expected a KServe v2 request with an \"inputs\" array.");
        }

        var tensors = new List<TensorData>();
        foreach (var input in inputs.EnumerateArray())
        {
            var name = input.GetProperty("name").GetString() ?? "";
            if (!expected.TryGetValue(name, out var type))
            {
                throw new InvalidDataException($"{Path.GetFileName(file)}: input '{name}' is not an input of the model.");
            }

            var shape = input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var values = Flatten(input.GetProperty("data")).ToArray();
            tensors.Add(FromDoubles(name, type, shape, values));
        }

        return new InputSample(tensors);
    }

    private static IEnumerable<double> Flatten(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray())
            {
                foreach (var value in Flatten(item))
                {
                    yield return value;
                }
            }
        }
        else if (element.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            yield return element.GetBoolean() ? 1 : 0;
        }
        else
        {
            yield return element.GetDouble();
        }
    }

    /// <summary>A tensor of <paramref name="type"/> from numbers.</summary>
    internal static TensorData FromDoubles(string name, DataType type, long[] shape, double[] values) => type switch
    {
        DataType.Fp32 => TensorData.From(name, shape, values.Select(v => (float)v).ToArray().AsSpan()),
        DataType.Fp64 => TensorData.From(name, shape, values.AsSpan()),
        DataType.Int64 => TensorData.From(name, shape, values.Select(v => (long)v).ToArray().AsSpan()),
        DataType.Int32 => TensorData.From(name, shape, values.Select(v => (int)v).ToArray().AsSpan()),
        DataType.Fp16 => TensorData.From(name, shape, values.Select(v => (Half)v).ToArray().AsSpan()),
        DataType.Bool => TensorData.From(name, shape, values.Select(v => v != 0).ToArray().AsSpan()),
        DataType.UInt8 => TensorData.From(name, shape, values.Select(v => (byte)v).ToArray().AsSpan()),
        DataType.Int8 => TensorData.From(name, shape, values.Select(v => (sbyte)v).ToArray().AsSpan()),
        _ => throw new NotSupportedException($"Input '{name}' has datatype {type}, which representative data does not support."),
    };

    private static long[] ShapeOf(TensorShapeProto? shape, int batch, int sequence)
    {
        if (shape is null)
        {
            return [batch, sequence];
        }

        var dims = new long[shape.Dim.Count];
        for (var d = 0; d < dims.Length; d++)
        {
            var dim = shape.Dim[d];
            dims[d] = dim.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && dim.DimValue > 0
                ? dim.DimValue
                : d == 0 ? batch : sequence;
        }

        return dims;
    }

    /// <summary>For each graph input used as Gather indices into a constant table: the table's first dimension.</summary>
    private static Dictionary<string, long> VocabularySizes(GraphProto graph, Dictionary<string, TensorProto> initializers)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (node.OpType == "Gather" && node.Input.Count == 2 && initializers.TryGetValue(node.Input[0], out var table) && table.Dims.Count > 0)
            {
                result[node.Input[1]] = table.Dims[0];
            }
        }

        return result;
    }

    private static TensorData Fill(string name, DataType type, long[] shape, long vocabulary, Random random)
    {
        var count = (int)shape.Aggregate(1L, (a, b) => a * b);
        var lower = name.ToLowerInvariant();
        var values = new double[count];
        if (type is DataType.Fp32 or DataType.Fp64 or DataType.Fp16)
        {
            for (var i = 0; i < count; i++)
            {
                values[i] = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            }
        }
        else if (lower.Contains("mask", StringComparison.Ordinal) || type == DataType.Bool)
        {
            Array.Fill(values, 1);
        }
        else if (lower.Contains("ids", StringComparison.Ordinal) && !lower.Contains("type", StringComparison.Ordinal)
                 && !lower.Contains("position", StringComparison.Ordinal))
        {
            var low = Math.Min(1000, vocabulary / 10);
            for (var i = 0; i < count; i++)
            {
                values[i] = random.NextInt64(low, vocabulary);
            }
        }

        return FromDoubles(name, type, shape, values);
    }
}

/// <summary>Reads NumPy <c>.npy</c> files (format versions 1-3, little-endian, C order).</summary>
public static class Npy
{
    /// <summary>Reads <paramref name="path"/> as a tensor named <paramref name="name"/>, converted to <paramref name="type"/>.</summary>
    public static TensorData Read(string path, string name, DataType type)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Representative data for input '{name}' is missing: expected {Path.GetFileName(path)}.");
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
        {
            throw new InvalidDataException($"{Path.GetFileName(path)} is not a .npy file.");
        }

        int headerLength, offset;
        if (bytes[6] == 1)
        {
            headerLength = BitConverter.ToUInt16(bytes, 8);
            offset = 10;
        }
        else
        {
            headerLength = (int)BitConverter.ToUInt32(bytes, 8);
            offset = 12;
        }

        var header = Encoding.ASCII.GetString(bytes, offset, headerLength);
        var descr = Field(header, "descr").Trim('\'', '"', ' ');
        if (Field(header, "fortran_order").Trim().StartsWith("True", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{Path.GetFileName(path)} is in Fortran order; save it in C order.");
        }

        var shapeText = header[(header.IndexOf("'shape'", StringComparison.Ordinal) + 7)..];
        shapeText = shapeText[(shapeText.IndexOf('(') + 1)..shapeText.IndexOf(')')];
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => long.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        var data = bytes.AsSpan(offset + headerLength);
        double[] values = descr switch
        {
            "<f4" => [.. MemoryMarshal.Cast<byte, float>(data).ToArray().Select(v => (double)v)],
            "<f8" => MemoryMarshal.Cast<byte, double>(data).ToArray(),
            "<f2" => [.. MemoryMarshal.Cast<byte, Half>(data).ToArray().Select(v => (double)v)],
            "<i8" => [.. MemoryMarshal.Cast<byte, long>(data).ToArray().Select(v => (double)v)],
            "<i4" => [.. MemoryMarshal.Cast<byte, int>(data).ToArray().Select(v => (double)v)],
            "|b1" or "|u1" => [.. data.ToArray().Select(v => (double)v)],
            "|i1" => [.. data.ToArray().Select(v => (double)(sbyte)v)],
            _ => throw new InvalidDataException($"{Path.GetFileName(path)} has dtype {descr}; supported: <f4 <f8 <f2 <i8 <i4 |b1 |u1 |i1."),
        };
        return RepresentativeData.FromDoubles(name, type, shape, values);
    }

    private static string Field(string header, string key)
    {
        var start = header.IndexOf($"'{key}'", StringComparison.Ordinal);
        if (start < 0)
        {
            return "";
        }

        var colon = header.IndexOf(':', start);
        var end = header.IndexOf(',', colon);
        return header[(colon + 1)..end];
    }
}
