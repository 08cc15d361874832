using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Build;

/// <summary>
/// The element type (ONNX <c>TensorProto.DataType</c> number) of every value in a graph, propagated node by node from the
/// inputs and constants with the operators' type rules. ONNX Runtime does not write inferred types back into saved models,
/// and the FP16 converter and calibration need to know which values are floats.
/// </summary>
public static class ElementTypes
{
    private const int Float = (int)TensorProto.Types.DataType.Float;
    private const int Uint8 = (int)TensorProto.Types.DataType.Uint8;
    private const int Int32 = (int)TensorProto.Types.DataType.Int32;
    private const int Int64 = (int)TensorProto.Types.DataType.Int64;
    private const int Bool = (int)TensorProto.Types.DataType.Bool;

    private static readonly HashSet<string> s_int64Outputs = ["Shape", "Size", "NonZero", "ArgMax", "ArgMin", "NonMaxSuppression"];
    private static readonly HashSet<string> s_boolOutputs =
        ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf"];

    /// <summary>Infers the element types; values whose type cannot be told are absent.</summary>
    public static Dictionary<string, int> Infer(GraphProto graph)
    {
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var value in graph.Input.Concat(graph.ValueInfo).Concat(graph.Output))
        {
            if (value.Type?.TensorType is { ElemType: not 0 } tensor)
            {
                types[value.Name] = tensor.ElemType;
            }
        }

        foreach (var initializer in graph.Initializer)
        {
            types[initializer.Name] = initializer.DataType;
        }

        foreach (var node in graph.Node)
        {
            for (var i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i].Length > 0 && OutputType(node, i, types) is { } type)
                {
                    types[node.Output[i]] = type;
                }
            }
        }

        return types;
    }

    private static int? OutputType(NodeProto node, int index, Dictionary<string, int> types)
    {
        int? InputType(int i) => i < node.Input.Count && types.TryGetValue(node.Input[i], out var t) ? t : null;

        if (node.Domain is not ("" or "ai.onnx"))
        {
            return node.OpType switch
            {
                "DynamicQuantizeMatMul" or "MatMulIntegerToFloat" => Float,
                _ => FirstKnown(node, types),
            };
        }

        switch (node.OpType)
        {
            case "Cast":
                return (int)(Attribute(node, "to")?.I ?? Float);
            case "CastLike":
                return InputType(1);
            case "Constant":
                var attribute = node.Attribute.FirstOrDefault();
                return attribute?.Name switch
                {
                    "value" => attribute.T.DataType,
                    "value_float" or "value_floats" => Float,
                    "value_int" or "value_ints" => Int64,
                    _ => null,
                };
            case "ConstantOfShape":
                return Attribute(node, "value")?.T?.DataType ?? Float;
            case "Where":
                return InputType(1) ?? InputType(2);
            case "TopK":
                return index == 1 ? Int64 : InputType(0);
            case "DynamicQuantizeLinear":
                return index == 1 ? Float : Uint8;
            case "QuantizeLinear":
                return InputType(2) ?? Uint8;
            case "DequantizeLinear":
                return InputType(1) ?? Float;
            case "MatMulInteger" or "ConvInteger":
                return Int32;
            case "EyeLike" or "RandomNormalLike" or "RandomUniformLike":
                return (int?)Attribute(node, "dtype")?.I ?? InputType(0);
            case "RandomNormal" or "RandomUniform":
                return (int?)Attribute(node, "dtype")?.I ?? Float;
        }

        if (s_int64Outputs.Contains(node.OpType))
        {
            return Int64;
        }

        if (s_boolOutputs.Contains(node.OpType))
        {
            return Bool;
        }

        if (node.OpType is "LayerNormalization" && index > 0)
        {
            return Float;
        }

        return FirstKnown(node, types);
    }

    private static int? FirstKnown(NodeProto node, Dictionary<string, int> types)
    {
        foreach (var input in node.Input)
        {
            if (input.Length > 0 && types.TryGetValue(input, out var type))
            {
                return type;
            }
        }

        return null;
    }

    internal static AttributeProto? Attribute(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    /// <summary>True for FP32.</summary>
    public static bool IsFloat(this Dictionary<string, int> types, string name) => types.TryGetValue(name, out var t) && t == Float;

}
