using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Build;

/// <summary>
/// Static INT8 quantization in the QDQ form: <c>QuantizeLinear</c>/<c>DequantizeLinear</c> pairs on the activation inputs
/// of <c>MatMul</c> and <c>Gemm</c> nodes with constant weights (UINT8, asymmetric, ranges from calibration), and INT8
/// weights with one scale per output channel behind a <c>DequantizeLinear</c>. ONNX Runtime's CPU provider fuses these
/// node units into integer kernels at optimization level all; TensorRT reads the same form as explicit quantization.
/// </summary>
public static class QdqQuantizer
{
    /// <summary>The activation tensors that need a calibrated range: the data inputs of quantizable nodes.</summary>
    public static List<string> ActivationTensors(ModelProto model)
    {
        var initializers = OnnxModelFile.Initializers(model.Graph);
        var types = ElementTypes.Infer(model.Graph);
        return [.. model.Graph.Node
            .Where(n => IsQuantizable(n, initializers) && types.IsFloat(n.Input[0]) && !initializers.ContainsKey(n.Input[0]))
            .Select(n => n.Input[0])
            .Distinct(StringComparer.Ordinal)];
    }

    /// <summary>Names of the nodes <see cref="Quantize"/> would quantize.</summary>
    public static List<string> Candidates(ModelProto model)
    {
        var initializers = OnnxModelFile.Initializers(model.Graph);
        return [.. model.Graph.Node.Where(n => IsQuantizable(n, initializers)).Select(n => n.Name)];
    }

    /// <summary>Rewrites <paramref name="model"/> in place; returns how many nodes were quantized.</summary>
    public static int Quantize(ModelProto model, CalibrationTable table, IReadOnlySet<string>? excludedNodes = null)
    {
        var graph = model.Graph;
        var initializers = OnnxModelFile.Initializers(graph);
        var consumers = OnnxModelFile.Consumers(graph);
        var used = OnnxModelFile.UsedNames(graph);
        var dequantized = new Dictionary<string, string>(StringComparer.Ordinal);   // activation -> its DQ output
        var quantizedNodes = 0;
        var newNodes = new List<NodeProto>(graph.Node.Count * 2);
        var graphInputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);

        // Q/DQ for graph inputs go first; for other activations right after their producer.
        var pendingAfter = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        void AddWeight(NodeProto node)
        {
            var transposed = node.OpType == "Gemm" && (ElementTypes.Attribute(node, "transB")?.I ?? 0) == 1;
            if (WeightQuantization.DequantizedWeight(graph, node, 1, initializers, consumers, used, perColumn: !transposed) is { } dq)
            {
                if (!pendingAfter.TryGetValue("", out var front))
                {
                    pendingAfter[""] = front = [];
                }

                front.Add(dq);
            }
        }

        foreach (var node in graph.Node)
        {
            if (!IsQuantizable(node, initializers))
            {
                continue;
            }

            if (excludedNodes?.Contains(node.Name) == true || !table.Ranges.TryGetValue(node.Input[0], out var range))
            {
                AddWeight(node);   // precision fallback: INT8 weight, FP32 compute
                continue;
            }

            var activation = node.Input[0];
            if (!dequantized.TryGetValue(activation, out var dqOutput))
            {
                var (scale, zeroPoint) = ActivationParameters(range);
                var scaleName = OnnxModelFile.UniqueName(used, activation + "_scale");
                var zeroName = OnnxModelFile.UniqueName(used, activation + "_zero_point");
                graph.Initializer.Add(OnnxModelFile.Constant<float>(scaleName, TensorProto.Types.DataType.Float, [scale]));
                graph.Initializer.Add(OnnxModelFile.Constant<byte>(zeroName, TensorProto.Types.DataType.Uint8, [zeroPoint]));
                var qOutput = OnnxModelFile.UniqueName(used, activation + "_quantized");
                dqOutput = OnnxModelFile.UniqueName(used, activation + "_dequantized");
                var pair = new List<NodeProto>
                {
                    WeightQuantization.NewNode("QuantizeLinear", [activation, scaleName, zeroName], [qOutput], OnnxModelFile.UniqueName(used, activation + "_QuantizeLinear")),
                    WeightQuantization.NewNode("DequantizeLinear", [qOutput, scaleName, zeroName], [dqOutput], OnnxModelFile.UniqueName(used, activation + "_DequantizeLinear")),
                };
                var key = graphInputs.Contains(activation) ? "" : activation;
                if (!pendingAfter.TryGetValue(key, out var list))
                {
                    pendingAfter[key] = list = [];
                }

                list.AddRange(pair);
                dequantized[activation] = dqOutput;
            }

            node.Input[0] = dqOutput;

            // The weight: INT8 with per-channel scales behind a DequantizeLinear.
            AddWeight(node);
            quantizedNodes++;
        }

        if (pendingAfter.TryGetValue("", out var first))
        {
            newNodes.AddRange(first);
        }

        foreach (var node in graph.Node)
        {
            newNodes.Add(node);
            foreach (var output in node.Output)
            {
                if (pendingAfter.TryGetValue(output, out var after))
                {
                    newNodes.AddRange(after);
                }
            }
        }

        graph.Node.Clear();
        graph.Node.AddRange(newNodes);
        if (OnnxModelFile.DefaultOpset(model) < 13)
        {
            OnnxModelFile.EnsureOpset(model, "", 13);   // per-axis DequantizeLinear
        }

        return quantizedNodes;
    }

    /// <summary>UINT8 scale and zero point for a range (widened to include 0, as the format requires).</summary>
    public static (float Scale, byte ZeroPoint) ActivationParameters(TensorRange range)
    {
        var min = Math.Min(range.Min, 0f);
        var max = Math.Max(range.Max, 0f);
        var scale = (max - min) / 255f;
        if (!(scale > 0) || !float.IsFinite(scale))
        {
            return (1f, 0);
        }

        var zeroPoint = (byte)Math.Clamp(MathF.Round(-min / scale), 0, 255);
        return (scale, zeroPoint);
    }

    private static bool IsQuantizable(NodeProto node, Dictionary<string, TensorProto> initializers) =>
        node.Domain.Length == 0
        && node.OpType is "MatMul" or "Gemm"
        && node.Input.Count >= 2
        && WeightQuantization.ConstantMatrix(initializers, node.Input[1]) is not null
        && (node.OpType == "MatMul" || (ElementTypes.Attribute(node, "transA")?.I ?? 0) == 0);
}
