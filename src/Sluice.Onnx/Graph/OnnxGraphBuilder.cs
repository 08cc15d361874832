using System.Runtime.InteropServices;
using Google.Protobuf;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Graph;

/// <summary>
/// Builds an ONNX model in code: typed inputs and outputs (fixed or symbolic dims), constant initializers (inline or in an
/// external data file) and nodes, default-domain opset 17 plus any other operator set imported with <see cref="Opset"/>
/// (e.g. ONNX Runtime's <c>com.microsoft</c> contrib ops). Used by tests, samples and the model writers; the result is an
/// ordinary ONNX file any runtime loads.
/// </summary>
/// <example><code>
/// new OnnxGraphBuilder("add_one")
///     .Input("INPUT0", DataType.Fp32, ["batch", 4])
///     .Initializer("one", [1f], [])
///     .Node("Add", ["INPUT0", "one"], ["OUTPUT0"])
///     .Output("OUTPUT0", DataType.Fp32, ["batch", 4])
///     .Save(path);
/// </code></example>
public sealed class OnnxGraphBuilder
{
    /// <summary>The default-domain operator set the built models import.</summary>
    public const int OpsetVersion = 17;

    /// <summary>IR version 8 is the one that goes with opset 17.</summary>
    private const long IrVersion = 8;

    /// <summary>ONNX Runtime's contrib operator domain.</summary>
    public const string MicrosoftDomain = "com.microsoft";

    private readonly GraphProto _graph;
    private readonly Dictionary<string, long> _opsets = [];
    private int _nodeCount;

    public OnnxGraphBuilder(string graphName)
    {
        ArgumentException.ThrowIfNullOrEmpty(graphName);
        _graph = new GraphProto { Name = graphName };
    }

    /// <summary>Adds a graph input.</summary>
    public OnnxGraphBuilder Input(string name, DataType type, IReadOnlyList<OnnxDim> dims)
    {
        _graph.Input.Add(ValueInfo(name, type, dims));
        return this;
    }

    /// <summary>Adds a graph input; each -1 in <paramref name="dims"/> becomes a symbolic dim (the first named <c>batch</c>).</summary>
    public OnnxGraphBuilder Input(string name, DataType type, long[] dims)
    {
        _graph.Input.Add(ValueInfo(name, type, ToDims(dims)));
        return this;
    }

    /// <summary>Adds a graph output.</summary>
    public OnnxGraphBuilder Output(string name, DataType type, IReadOnlyList<OnnxDim> dims)
    {
        _graph.Output.Add(ValueInfo(name, type, dims));
        return this;
    }

    /// <summary>Adds a graph output; each -1 in <paramref name="dims"/> becomes a symbolic dim (the first named <c>batch</c>).</summary>
    public OnnxGraphBuilder Output(string name, DataType type, long[] dims)
    {
        _graph.Output.Add(ValueInfo(name, type, ToDims(dims)));
        return this;
    }

    /// <summary>Adds an FP32 constant.</summary>
    public OnnxGraphBuilder Initializer(string name, float[] values, long[] dims) =>
        Initializer(name, DataType.Fp32, MemoryMarshal.AsBytes(values.AsSpan()), dims);

    /// <summary>Adds an INT64 constant.</summary>
    public OnnxGraphBuilder Initializer(string name, long[] values, long[] dims) =>
        Initializer(name, DataType.Int64, MemoryMarshal.AsBytes(values.AsSpan()), dims);

    /// <summary>Adds a constant of any fixed-size type from its little-endian bytes.</summary>
    public OnnxGraphBuilder Initializer(string name, DataType type, ReadOnlySpan<byte> rawData, long[] dims)
    {
        _graph.Initializer.Add(Tensor(name, type, rawData, dims));
        return this;
    }

    /// <summary>
    /// Adds a constant whose data lives in an external file: <paramref name="location"/> relative to the model file,
    /// <paramref name="length"/> bytes from <paramref name="offset"/> (the caller writes them there).
    /// </summary>
    public OnnxGraphBuilder ExternalInitializer(string name, DataType type, long[] dims, string location, long offset, long length)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(location);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (!TensorShape.TryGetByteSize(type, dims, out var expected) || expected != length)
        {
            throw new ArgumentException(
                $"Constant '{name}' of {type.ToKServeName()} {TensorShape.Format(dims)} needs {expected} bytes, got {length}.",
                nameof(length));
        }

        var tensor = new TensorProto { Name = name, DataType = (int)type.ToOnnx(), DataLocation = TensorProto.Types.DataLocation.External };
        tensor.Dims.AddRange(dims);
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        _graph.Initializer.Add(tensor);
        return this;
    }

    /// <summary>
    /// Imports operator set <paramref name="version"/> of <paramref name="domain"/> (the empty domain is the default ONNX
    /// one, opset <see cref="OpsetVersion"/> unless set here).
    /// </summary>
    public OnnxGraphBuilder Opset(string domain, long version)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(version);
        _opsets[domain] = version;
        return this;
    }

    /// <summary>
    /// Adds a node of operator <paramref name="opType"/> in <paramref name="domain"/> (import the domain with
    /// <see cref="Opset"/>); an empty string in <paramref name="inputs"/> is an omitted optional input.
    /// </summary>
    public OnnxGraphBuilder DomainNode(string domain, string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        ArgumentNullException.ThrowIfNull(domain);
        Node(opType, inputs, outputs, name: null, attributes);
        _graph.Node[^1].Domain = domain;
        return this;
    }

    /// <summary>Adds a node of the default domain; its name is generated when not given.</summary>
    public OnnxGraphBuilder Node(string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes) =>
        Node(opType, inputs, outputs, name: null, attributes);

    /// <summary>Adds a named node of the default domain.</summary>
    public OnnxGraphBuilder Node(string opType, string[] inputs, string[] outputs, string? name, params AttributeProto[] attributes)
    {
        ArgumentException.ThrowIfNullOrEmpty(opType);
        var node = new NodeProto { OpType = opType, Name = name ?? $"{opType}_{_nodeCount}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        _nodeCount++;
        return this;
    }

    /// <summary>The model as a protobuf message (a fresh copy each call).</summary>
    public ModelProto Build()
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "sluice",
            Graph = _graph.Clone(),
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = _opsets.GetValueOrDefault("", OpsetVersion) });
        foreach (var (domain, version) in _opsets.Where(o => o.Key.Length > 0).OrderBy(o => o.Key, StringComparer.Ordinal))
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        }

        return model;
    }

    /// <summary>The serialized model.</summary>
    public byte[] ToBytes() => Build().ToByteArray();

    /// <summary>Writes the model to <paramref name="path"/>, creating the folder; returns the path.</summary>
    public string Save(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        File.WriteAllBytes(path, ToBytes());
        return path;
    }

    /// <summary>An INT attribute.</summary>
    public static AttributeProto Attribute(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A FLOAT attribute.</summary>
    public static AttributeProto Attribute(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A STRING attribute.</summary>
    public static AttributeProto Attribute(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>An INTS attribute.</summary>
    public static AttributeProto Attribute(string name, long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    /// <summary>A FLOATS attribute.</summary>
    public static AttributeProto Attribute(string name, float[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        attribute.Floats.AddRange(values);
        return attribute;
    }

    /// <summary>A TENSOR attribute (e.g. <c>Constant</c>'s <c>value</c>).</summary>
    public static AttributeProto Attribute(string name, TensorProto value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = value };

    /// <summary>A tensor constant of a fixed-size type from its little-endian bytes.</summary>
    public static TensorProto Tensor(string name, DataType type, ReadOnlySpan<byte> rawData, long[] dims)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (type == DataType.Bytes)
        {
            throw new ArgumentException("Use a STRING tensor for BYTES constants.", nameof(type));
        }

        if (!TensorShape.TryGetByteSize(type, dims, out var expected) || expected != rawData.Length)
        {
            throw new ArgumentException(
                $"Constant '{name}' of {type.ToKServeName()} {TensorShape.Format(dims)} needs {expected} bytes, got {rawData.Length}.",
                nameof(rawData));
        }

        var tensor = new TensorProto { Name = name, DataType = (int)type.ToOnnx(), RawData = ByteString.CopyFrom(rawData) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    private static ValueInfoProto ValueInfo(string name, DataType type, IReadOnlyList<OnnxDim> dims)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(dim.IsSymbolic
                ? new TensorShapeProto.Types.Dimension { DimParam = dim.Param }
                : new TensorShapeProto.Types.Dimension { DimValue = dim.Value });
        }

        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type.ToOnnx(), Shape = shape } },
        };
    }

    private static OnnxDim[] ToDims(long[] dims)
    {
        var result = new OnnxDim[dims.Length];
        for (var i = 0; i < dims.Length; i++)
        {
            result[i] = dims[i] switch
            {
                >= 0 => OnnxDim.Fixed(dims[i]),
                -1 => OnnxDim.Symbolic(i == 0 ? "batch" : $"dim{i}"),
                _ => throw new ArgumentOutOfRangeException(nameof(dims), dims[i], "Dims are sizes or -1 for a symbolic dimension."),
            };
        }

        return result;
    }
}
