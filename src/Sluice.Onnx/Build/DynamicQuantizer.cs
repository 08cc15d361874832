using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Build;

/// <summary>
/// Dynamic (weight-only calibrated) INT8 quantization: every <c>MatMul</c> with a constant [K, N] FP32 weight becomes ONNX
/// Runtime's <c>com.microsoft.DynamicQuantizeMatMul</c> with INT8 weights and one scale per output column; activations are
/// quantized to UINT8 per tensor at run time (the CPU provider runs the product with VNNI where the CPU has it). A bias
/// <c>Add</c> that only follows the MatMul is folded into the operator. Large embedding tables become INT8 too.
/// </summary>
public static class DynamicQuantizer
{
    /// <summary>Names of the nodes <see cref="Quantize"/> would replace.</summary>
    public static List<string> Candidates(ModelProto model)
    {
        var initializers = OnnxModelFile.Initializers(model.Graph);
        return [.. model.Graph.Node
            .Where(n => n.OpType == "MatMul" && n.Domain.Length == 0 && WeightQuantization.ConstantMatrix(initializers, n.Input[1]) is not null)
            .Select(n => n.Name)];
    }

    /// <summary>Quantizes <paramref name="model"/> in place; returns how many MatMuls were replaced.</summary>
    public static int Quantize(ModelProto model, IReadOnlySet<string>? excludedNodes = null)
    {
        var graph = model.Graph;
        var initializers = OnnxModelFile.Initializers(graph);
        var consumers = OnnxModelFile.Consumers(graph);
        var used = OnnxModelFile.UsedNames(graph);
        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var replaced = 0;
        var removed = new HashSet<NodeProto>();
        for (var index = 0; index < graph.Node.Count; index++)
        {
            var node = graph.Node[index];
            if (node.OpType != "MatMul" || node.Domain.Length > 0
                || WeightQuantization.ConstantMatrix(initializers, node.Input[1]) is not { } weight
                || consumers[weight.Name].Count != 1)
            {
                continue;
            }

            if (excludedNodes?.Contains(node.Name) == true)
            {
                // Precision fallback: INT8 weight behind a DequantizeLinear, FP32 compute.
                var dq = WeightQuantization.DequantizedWeight(graph, node, 1, initializers, consumers, used, perColumn: true)!;
                graph.Node.Insert(index, dq);
                index++;
                continue;
            }

            var k = (int)weight.Dims[0];
            var n = (int)weight.Dims[1];
            var (values, scales) = WeightQuantization.QuantizeMatrix(OnnxModelFile.ReadFloats(weight), k, n, perColumn: true);
            var qWeight = OnnxModelFile.Constant<sbyte>(OnnxModelFile.UniqueName(used, weight.Name + "_int8"), TensorProto.Types.DataType.Int8, values, k, n);
            var qScale = OnnxModelFile.Constant<float>(OnnxModelFile.UniqueName(used, weight.Name + "_scale"), TensorProto.Types.DataType.Float, scales, n);
            var qZero = OnnxModelFile.Constant<sbyte>(OnnxModelFile.UniqueName(used, weight.Name + "_zero_point"), TensorProto.Types.DataType.Int8, new sbyte[n], n);
            graph.Initializer.Remove(weight);
            graph.Initializer.Add(qWeight);
            graph.Initializer.Add(qScale);
            graph.Initializer.Add(qZero);

            var quantized = WeightQuantization.NewNode("DynamicQuantizeMatMul", [node.Input[0], qWeight.Name, qScale.Name, qZero.Name],
                [node.Output[0]], node.Name + "_quant", OnnxModelFile.MicrosoftDomain);

            // Fold a following bias Add ([N] constant) when nothing else reads the MatMul's output.
            if (!graphOutputs.Contains(node.Output[0])
                && consumers.TryGetValue(node.Output[0], out var next) && next.Count == 1
                && next[0] is { OpType: "Add", Domain: "" } add
                && add.Input.FirstOrDefault(i => i != node.Output[0]) is { } biasName
                && initializers.TryGetValue(biasName, out var bias)
                && bias.DataType == (int)TensorProto.Types.DataType.Float && bias.Dims.Count == 1 && bias.Dims[0] == n)
            {
                quantized.Input.Add(biasName);
                quantized.Output[0] = add.Output[0];
                removed.Add(add);
            }

            graph.Node[index] = quantized;
            replaced++;
        }

        foreach (var node in removed)
        {
            graph.Node.Remove(node);
        }

        if (replaced > 0)
        {
            OnnxModelFile.EnsureOpset(model, OnnxModelFile.MicrosoftDomain, 1);
        }

        return replaced;
    }
}
