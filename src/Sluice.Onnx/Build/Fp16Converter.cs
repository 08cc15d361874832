using System.Runtime.InteropServices;
using Google.Protobuf;
using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Build;

/// <summary>
/// Converts a model's FP32 weights and compute to FP16, keeping FP32 for the operator types listed (normalizations,
/// reductions, softmax: where FP16's range or precision hurts). Cast nodes appear only where a value crosses between an
/// FP16 and an FP32 region, and at FP32 graph inputs and outputs, whose types stay unchanged.
/// </summary>
public static class Fp16Converter
{
    /// <summary>Operator types kept in FP32 by default.</summary>
    public static readonly IReadOnlyList<string> DefaultFp32OpTypes =
    [
        "LayerNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization", "Softmax", "LogSoftmax",
        "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp", "Pow", "Sqrt", "Range",
    ];

    private const int Float = (int)TensorProto.Types.DataType.Float;
    private const int Float16 = (int)TensorProto.Types.DataType.Float16;

    /// <summary>Converts <paramref name="model"/> in place; returns how many nodes run in FP16 and how many Casts were added.</summary>
    public static (int Fp16Nodes, int Casts) Convert(ModelProto model, IReadOnlyCollection<string>? fp32OpTypes = null)
    {
        var keep = (fp32OpTypes ?? DefaultFp32OpTypes).ToHashSet(StringComparer.Ordinal);
        var graph = model.Graph;
        ConstantsToInitializers(graph);
        var types = ElementTypes.Infer(graph);
        var used = OnnxModelFile.UsedNames(graph);
        var initializers = OnnxModelFile.Initializers(graph);
        var consumers = OnnxModelFile.Consumers(graph);

        bool IsFp16Node(NodeProto node) => node.Domain is "" or "ai.onnx" && !keep.Contains(node.OpType);

        // Where each float value lives now: true = FP16.
        var inFp16 = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var input in graph.Input)
        {
            inFp16[input.Name] = false;
        }

        // Float initializers: FP16 when any reader is an FP16 node (an FP32 copy stays for FP32 readers).
        var fp16Copies = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var initializer in graph.Initializer.ToList())
        {
            if (initializer.DataType != Float || !consumers.TryGetValue(initializer.Name, out var readers))
            {
                continue;
            }

            var fp16Readers = readers.Count(IsFp16Node);
            if (fp16Readers == 0)
            {
                inFp16[initializer.Name] = false;
                continue;
            }

            var converted = ToFloat16(initializer);
            if (fp16Readers == readers.Count)
            {
                graph.Initializer[graph.Initializer.IndexOf(initializer)] = converted;
                inFp16[initializer.Name] = true;
            }
            else
            {
                converted.Name = OnnxModelFile.UniqueName(used, initializer.Name + "_fp16");
                graph.Initializer.Add(converted);
                fp16Copies[initializer.Name] = converted.Name;
                inFp16[initializer.Name] = false;
            }
        }

        var casts = new Dictionary<(string, bool), string>();
        var result = new List<NodeProto>(graph.Node.Count);
        var fp16Nodes = 0;
        foreach (var node in graph.Node)
        {
            var fp16 = IsFp16Node(node);
            if (node.OpType != "Cast")
            {
                for (var i = 0; i < node.Input.Count; i++)
                {
                    var name = node.Input[i];
                    if (name.Length == 0 || !types.IsFloat(name) || !inFp16.TryGetValue(name, out var isFp16) || isFp16 == fp16)
                    {
                        continue;
                    }

                    if (fp16 && fp16Copies.TryGetValue(name, out var copy))
                    {
                        node.Input[i] = copy;
                        continue;
                    }

                    if (!casts.TryGetValue((name, fp16), out var cast))
                    {
                        cast = OnnxModelFile.UniqueName(used, name + (fp16 ? "_to_fp16" : "_to_fp32"));
                        result.Add(CastNode(name, cast, fp16 ? Float16 : Float, OnnxModelFile.UniqueName(used, cast + "_Cast")));
                        casts[(name, fp16)] = cast;
                    }

                    node.Input[i] = cast;
                }
            }

            if (fp16)
            {
                fp16Nodes++;
                if (node.OpType == "Cast" && ElementTypes.Attribute(node, "to") is { I: Float } to)
                {
                    to.I = Float16;
                }
                else if (node.OpType == "ConstantOfShape" && ElementTypes.Attribute(node, "value") is { T.DataType: Float } value)
                {
                    value.T = ToFloat16(value.T);
                }
            }

            foreach (var output in node.Output)
            {
                if (types.IsFloat(output))
                {
                    inFp16[output] = fp16;
                }
            }

            result.Add(node);
        }

        // FP32 graph outputs produced in FP16: the producer writes a renamed value and a final Cast restores the name.
        foreach (var output in graph.Output)
        {
            if (!inFp16.GetValueOrDefault(output.Name))
            {
                continue;
            }

            var renamed = OnnxModelFile.UniqueName(used, output.Name + "_fp16");
            foreach (var node in result)
            {
                for (var i = 0; i < node.Output.Count; i++) if (node.Output[i] == output.Name) node.Output[i] = renamed;
                for (var i = 0; i < node.Input.Count; i++) if (node.Input[i] == output.Name) node.Input[i] = renamed;
            }

            result.Add(CastNode(renamed, output.Name, Float, OnnxModelFile.UniqueName(used, output.Name + "_Cast")));
            casts[(output.Name, false)] = output.Name;
        }

        graph.Node.Clear();
        graph.Node.AddRange(result);
        graph.ValueInfo.Clear();   // types changed; ONNX Runtime infers them again at load
        return (fp16Nodes, casts.Count);
    }

    /// <summary>An FP16 copy of an FP32 constant (same name).</summary>
    public static TensorProto ToFloat16(TensorProto tensor)
    {
        var values = OnnxModelFile.ReadFloats(tensor);
        var halves = new Half[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            // Clamp to FP16's finite range so large constants (e.g. -3.4e38 masks) stay finite.
            halves[i] = (Half)Math.Clamp(values[i], -65504f, 65504f);
        }

        var converted = new TensorProto { Name = tensor.Name, DataType = Float16, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(halves.AsSpan())) };
        converted.Dims.AddRange(tensor.Dims);
        return converted;
    }

    private static NodeProto CastNode(string input, string output, int to, string name)
    {
        var node = WeightQuantization.NewNode("Cast", [input], [output], name);
        node.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = to });
        return node;
    }

    /// <summary>Turns <c>Constant</c> nodes with a tensor value into initializers, so constants convert like weights.</summary>
    private static void ConstantsToInitializers(GraphProto graph)
    {
        foreach (var node in graph.Node.Where(n => n.OpType == "Constant" && n.Domain is "" or "ai.onnx").ToList())
        {
            if (node.Attribute.Count == 1 && node.Attribute[0].Name == "value" && node.Attribute[0].T is { } tensor)
            {
                var initializer = tensor.Clone();
                initializer.Name = node.Output[0];
                graph.Initializer.Add(initializer);
                graph.Node.Remove(node);
            }
        }
    }
}
