using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Google.Protobuf;
using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Build;

/// <summary>Reads and writes ONNX files with our protobuf classes, and the small graph queries the build steps share.</summary>
public static class OnnxModelFile
{
    /// <summary>The domain of ONNX Runtime's contrib operators.</summary>
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>Parses an ONNX file. Models over 2 GB (external data) are not supported by the build.</summary>
    public static ModelProto Read(string path)
    {
        using var stream = File.OpenRead(path);
        var parser = new MessageParser<ModelProto>(() => new ModelProto()).WithDiscardUnknownFields(false);
        return parser.ParseFrom(CodedInputStream.CreateWithLimits(stream, int.MaxValue, 100));
    }

    /// <summary>Writes <paramref name="model"/> to <paramref name="path"/> through a temporary file, so a reader never sees half a model.</summary>
    public static void Write(ModelProto model, string path)
    {
        var temporary = path + ".tmp";
        using (var stream = File.Create(temporary))
        {
            model.WriteTo(stream);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Lower-case hex SHA-256 of a file.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>How many nodes of each operator type the graph has (domain-qualified for non-default domains).</summary>
    public static SortedDictionary<string, int> CountOps(ModelProto model)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in model.Graph.Node)
        {
            var key = string.IsNullOrEmpty(node.Domain) || node.Domain == "ai.onnx" ? node.OpType : $"{node.Domain}.{node.OpType}";
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }

        return counts;
    }

    /// <summary>Initializers by name.</summary>
    public static Dictionary<string, TensorProto> Initializers(GraphProto graph)
    {
        var result = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var initializer in graph.Initializer)
        {
            result[initializer.Name] = initializer;
        }

        return result;
    }

    /// <summary>The values of an FP32 constant (raw or typed storage).</summary>
    public static float[] ReadFloats(TensorProto tensor)
    {
        if ((TensorProto.Types.DataType)tensor.DataType != TensorProto.Types.DataType.Float)
        {
            throw new InvalidDataException($"Constant '{tensor.Name}' is not FP32.");
        }

        return tensor.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray() : [.. tensor.FloatData];
    }

    /// <summary>The values of an INT64 constant (raw or typed storage).</summary>
    public static long[] ReadInt64s(TensorProto tensor) =>
        tensor.RawData.Length > 0 ? MemoryMarshal.Cast<byte, long>(tensor.RawData.Span).ToArray() : [.. tensor.Int64Data];

    /// <summary>A constant with raw little-endian data.</summary>
    public static TensorProto Constant<T>(string name, TensorProto.Types.DataType type, ReadOnlySpan<T> values, params long[] dims)
        where T : unmanaged
    {
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    /// <summary>Makes sure the model imports <paramref name="domain"/> at least at <paramref name="version"/>.</summary>
    public static void EnsureOpset(ModelProto model, string domain, long version)
    {
        foreach (var opset in model.OpsetImport)
        {
            if (opset.Domain == domain || (domain.Length == 0 && opset.Domain == "ai.onnx"))
            {
                if (opset.Version < version)
                {
                    opset.Version = version;
                }

                return;
            }
        }

        model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
    }

    /// <summary>The default-domain opset the model imports.</summary>
    public static long DefaultOpset(ModelProto model) =>
        model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();

    /// <summary>Names of every value consumed by a node (or a graph output) mapped to the nodes consuming it.</summary>
    public static Dictionary<string, List<NodeProto>> Consumers(GraphProto graph)
    {
        var result = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input)
            {
                if (input.Length == 0)
                {
                    continue;
                }

                if (!result.TryGetValue(input, out var list))
                {
                    result[input] = list = [];
                }

                list.Add(node);
            }
        }

        return result;
    }

    /// <summary>A name not yet used in the graph, built from <paramref name="stem"/>.</summary>
    internal static string UniqueName(HashSet<string> used, string stem)
    {
        var name = stem;
        for (var i = 1; !used.Add(name); i++)
        {
            name = $"{stem}_{i}";
        }

        return name;
    }

    /// <summary>Every value and node name in the graph, for <see cref="UniqueName"/>.</summary>
    internal static HashSet<string> UsedNames(GraphProto graph)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            used.Add(node.Name);
            used.UnionWith(node.Input);
            used.UnionWith(node.Output);
        }

        foreach (var value in graph.Input) used.Add(value.Name);
        foreach (var value in graph.Output) used.Add(value.Name);
        foreach (var value in graph.Initializer) used.Add(value.Name);
        return used;
    }
}
