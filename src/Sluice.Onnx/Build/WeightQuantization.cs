using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Build;

/// <summary>Symmetric INT8 quantization of constant weights: one scale per output channel, zero point 0, range [-127, 127].</summary>
public static class WeightQuantization
{
    /// <summary>
    /// Quantizes a row-major [rows, columns] matrix with one scale per column (<paramref name="perColumn"/>, the MatMul
    /// [K, N] layout) or per row (the Gemm transB / embedding-table layout).
    /// </summary>
    public static (sbyte[] Values, float[] Scales) QuantizeMatrix(ReadOnlySpan<float> weights, int rows, int columns, bool perColumn)
    {
        var channels = perColumn ? columns : rows;
        var scales = new float[channels];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                var channel = perColumn ? c : r;
                scales[channel] = Math.Max(scales[channel], Math.Abs(weights[r * columns + c]));
            }
        }

        for (var i = 0; i < channels; i++)
        {
            scales[i] = scales[i] > 0 ? scales[i] / 127f : 1f;
        }

        var values = new sbyte[weights.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < columns; c++)
            {
                var scale = scales[perColumn ? c : r];
                values[r * columns + c] = (sbyte)Math.Clamp(MathF.Round(weights[r * columns + c] / scale), -127, 127);
            }
        }

        return (values, scales);
    }

    /// <summary>The constant 2-D FP32 initializer named <paramref name="name"/>, or null.</summary>
    internal static TensorProto? ConstantMatrix(Dictionary<string, TensorProto> initializers, string name) =>
        initializers.TryGetValue(name, out var tensor)
        && tensor.DataType == (int)TensorProto.Types.DataType.Float
        && tensor.Dims.Count == 2
            ? tensor
            : null;

    /// <summary>
    /// Replaces each <c>Gather</c> from a large constant FP32 table (an embedding) by a Gather from an INT8 copy with one
    /// scale per row, dequantized after the gather (Cast and Mul by the gathered row scales), so only the looked-up rows are
    /// ever converted. Returns how many tables were quantized.
    /// </summary>
    public static int QuantizeEmbeddingTables(ModelProto model, long minimumElements = 1 << 20)
    {
        var graph = model.Graph;
        var initializers = OnnxModelFile.Initializers(graph);
        var consumers = OnnxModelFile.Consumers(graph);
        var used = OnnxModelFile.UsedNames(graph);
        var quantized = 0;
        for (var index = 0; index < graph.Node.Count; index++)
        {
            var node = graph.Node[index];
            if (node.OpType != "Gather" || node.Domain.Length > 0 || node.Input.Count != 2
                || ConstantMatrix(initializers, node.Input[0]) is not { } table
                || table.Dims[0] * table.Dims[1] < minimumElements
                || (ElementTypes.Attribute(node, "axis")?.I ?? 0) != 0
                || consumers[table.Name].Count != 1)
            {
                continue;
            }

            var rows = (int)table.Dims[0];
            var columns = (int)table.Dims[1];
            var (values, scales) = QuantizeMatrix(OnnxModelFile.ReadFloats(table), rows, columns, perColumn: false);
            var qTable = OnnxModelFile.Constant<sbyte>(OnnxModelFile.UniqueName(used, table.Name + "_int8"), TensorProto.Types.DataType.Int8, values, rows, columns);
            var qScales = OnnxModelFile.Constant<float>(OnnxModelFile.UniqueName(used, table.Name + "_scale"), TensorProto.Types.DataType.Float, scales, rows, 1);
            graph.Initializer.Remove(table);
            graph.Initializer.Add(qTable);
            graph.Initializer.Add(qScales);

            var output = node.Output[0];
            var gatheredRows = OnnxModelFile.UniqueName(used, output + "_int8");
            var gatheredScales = OnnxModelFile.UniqueName(used, output + "_scale");
            var castRows = OnnxModelFile.UniqueName(used, output + "_float");
            node.Input[0] = qTable.Name;
            node.Output[0] = gatheredRows;
            var gatherScales = NewNode("Gather", [qScales.Name, node.Input[1]], [gatheredScales], OnnxModelFile.UniqueName(used, node.Name + "_scale"));
            var cast = NewNode("Cast", [gatheredRows], [castRows], OnnxModelFile.UniqueName(used, node.Name + "_cast"));
            cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (int)TensorProto.Types.DataType.Float });
            var multiply = NewNode("Mul", [castRows, gatheredScales], [output], OnnxModelFile.UniqueName(used, node.Name + "_dequantize"));
            graph.Node.Insert(index + 1, gatherScales);
            graph.Node.Insert(index + 2, cast);
            graph.Node.Insert(index + 3, multiply);
            index += 3;
            quantized++;
        }

        return quantized;
    }

    /// <summary>
    /// Weight-only INT8 for one node (the precision fallback): the constant [rows, columns] weight at
    /// <paramref name="inputIndex"/> becomes INT8 with per-channel scales behind a <c>DequantizeLinear</c> (returned, to be
    /// placed before the node); the node itself keeps computing in FP32.
    /// </summary>
    internal static NodeProto? DequantizedWeight(GraphProto graph, NodeProto node, int inputIndex, Dictionary<string, TensorProto> initializers,
        Dictionary<string, List<NodeProto>> consumers, HashSet<string> used, bool perColumn)
    {
        if (ConstantMatrix(initializers, node.Input[inputIndex]) is not { } weight)
        {
            return null;
        }

        var rows = (int)weight.Dims[0];
        var columns = (int)weight.Dims[1];
        var (values, scales) = QuantizeMatrix(OnnxModelFile.ReadFloats(weight), rows, columns, perColumn);
        var qWeight = OnnxModelFile.UniqueName(used, weight.Name + "_int8");
        var wScale = OnnxModelFile.UniqueName(used, weight.Name + "_scale");
        var wZero = OnnxModelFile.UniqueName(used, weight.Name + "_zero_point");
        var dequantized = OnnxModelFile.UniqueName(used, weight.Name + "_dequantized");
        graph.Initializer.Add(OnnxModelFile.Constant<sbyte>(qWeight, TensorProto.Types.DataType.Int8, values, rows, columns));
        graph.Initializer.Add(OnnxModelFile.Constant<float>(wScale, TensorProto.Types.DataType.Float, scales, scales.Length));
        graph.Initializer.Add(OnnxModelFile.Constant<sbyte>(wZero, TensorProto.Types.DataType.Int8, new sbyte[scales.Length], scales.Length));
        var dq = NewNode("DequantizeLinear", [qWeight, wScale, wZero], [dequantized], OnnxModelFile.UniqueName(used, weight.Name + "_DequantizeLinear"));
        dq.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = perColumn ? 1 : 0 });
        if (consumers.TryGetValue(weight.Name, out var readers) && readers.Count == 1)
        {
            graph.Initializer.Remove(weight);
        }

        node.Input[inputIndex] = dequantized;
        return dq;
    }

    internal static NodeProto NewNode(string opType, string[] inputs, string[] outputs, string name, string domain = "")
    {
        var node = new NodeProto { OpType = opType, Name = name, Domain = domain };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }
}
