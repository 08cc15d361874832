using Microsoft.ML.OnnxRuntime.Tensors;
using Sluice.Core.Tensors;

namespace Sluice.Onnx.Runtime;

/// <summary>Maps our <see cref="DataType"/> to ONNX Runtime's <see cref="TensorElementType"/> and back.</summary>
internal static class OnnxTypeMapping
{
    public static TensorElementType ToElementType(DataType type) => type switch
    {
        DataType.Bool => TensorElementType.Bool,
        DataType.UInt8 => TensorElementType.UInt8,
        DataType.UInt16 => TensorElementType.UInt16,
        DataType.UInt32 => TensorElementType.UInt32,
        DataType.UInt64 => TensorElementType.UInt64,
        DataType.Int8 => TensorElementType.Int8,
        DataType.Int16 => TensorElementType.Int16,
        DataType.Int32 => TensorElementType.Int32,
        DataType.Int64 => TensorElementType.Int64,
        DataType.Fp16 => TensorElementType.Float16,
        DataType.Fp32 => TensorElementType.Float,
        DataType.Fp64 => TensorElementType.Double,
        DataType.Bf16 => TensorElementType.BFloat16,
        DataType.Bytes => TensorElementType.String,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a tensor data type."),
    };

    /// <summary>The <see cref="DataType"/> for an element type; <see cref="DataType.Invalid"/> for those Sluice does not serve.</summary>
    public static DataType ToDataType(TensorElementType type) => type switch
    {
        TensorElementType.Bool => DataType.Bool,
        TensorElementType.UInt8 => DataType.UInt8,
        TensorElementType.UInt16 => DataType.UInt16,
        TensorElementType.UInt32 => DataType.UInt32,
        TensorElementType.UInt64 => DataType.UInt64,
        TensorElementType.Int8 => DataType.Int8,
        TensorElementType.Int16 => DataType.Int16,
        TensorElementType.Int32 => DataType.Int32,
        TensorElementType.Int64 => DataType.Int64,
        TensorElementType.Float16 => DataType.Fp16,
        TensorElementType.Float => DataType.Fp32,
        TensorElementType.Double => DataType.Fp64,
        TensorElementType.BFloat16 => DataType.Bf16,
        TensorElementType.String => DataType.Bytes,
        _ => DataType.Invalid,
    };
}
