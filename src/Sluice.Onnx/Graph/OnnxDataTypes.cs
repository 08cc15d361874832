using Sluice.Core.Tensors;
using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Graph;

/// <summary>Maps <see cref="DataType"/> to the ONNX format's element type numbers and back.</summary>
public static class OnnxDataTypes
{
    /// <summary>The ONNX <c>TensorProto.DataType</c> for <paramref name="type"/> (<see cref="DataType.Bytes"/> is STRING).</summary>
    public static TensorProto.Types.DataType ToOnnx(this DataType type) => type switch
    {
        DataType.Bool => TensorProto.Types.DataType.Bool,
        DataType.UInt8 => TensorProto.Types.DataType.Uint8,
        DataType.UInt16 => TensorProto.Types.DataType.Uint16,
        DataType.UInt32 => TensorProto.Types.DataType.Uint32,
        DataType.UInt64 => TensorProto.Types.DataType.Uint64,
        DataType.Int8 => TensorProto.Types.DataType.Int8,
        DataType.Int16 => TensorProto.Types.DataType.Int16,
        DataType.Int32 => TensorProto.Types.DataType.Int32,
        DataType.Int64 => TensorProto.Types.DataType.Int64,
        DataType.Fp16 => TensorProto.Types.DataType.Float16,
        DataType.Fp32 => TensorProto.Types.DataType.Float,
        DataType.Fp64 => TensorProto.Types.DataType.Double,
        DataType.Bf16 => TensorProto.Types.DataType.Bfloat16,
        DataType.Bytes => TensorProto.Types.DataType.String,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a tensor data type."),
    };

    /// <summary>The <see cref="DataType"/> for an ONNX element type number; false for types Sluice does not serve (complex, float8, int4).</summary>
    public static bool TryFromOnnx(int elementType, out DataType type)
    {
        type = (TensorProto.Types.DataType)elementType switch
        {
            TensorProto.Types.DataType.Bool => DataType.Bool,
            TensorProto.Types.DataType.Uint8 => DataType.UInt8,
            TensorProto.Types.DataType.Uint16 => DataType.UInt16,
            TensorProto.Types.DataType.Uint32 => DataType.UInt32,
            TensorProto.Types.DataType.Uint64 => DataType.UInt64,
            TensorProto.Types.DataType.Int8 => DataType.Int8,
            TensorProto.Types.DataType.Int16 => DataType.Int16,
            TensorProto.Types.DataType.Int32 => DataType.Int32,
            TensorProto.Types.DataType.Int64 => DataType.Int64,
            TensorProto.Types.DataType.Float16 => DataType.Fp16,
            TensorProto.Types.DataType.Float => DataType.Fp32,
            TensorProto.Types.DataType.Double => DataType.Fp64,
            TensorProto.Types.DataType.Bfloat16 => DataType.Bf16,
            TensorProto.Types.DataType.String => DataType.Bytes,
            _ => DataType.Invalid,
        };
        return type != DataType.Invalid;
    }
}
