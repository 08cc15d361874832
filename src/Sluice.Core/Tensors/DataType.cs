using System.Diagnostics.CodeAnalysis;

namespace Sluice.Core.Tensors;

/// <summary>Tensor element types, named as KServe v2 names them on the wire.</summary>
public enum DataType
{
    /// <summary>Not a valid type; the default of an uninitialised value.</summary>
    Invalid = 0,
    /// <summary>One byte, 0 or 1.</summary>
    Bool,
    /// <summary>Unsigned 8-bit integer.</summary>
    UInt8,
    /// <summary>Unsigned 16-bit integer.</summary>
    UInt16,
    /// <summary>Unsigned 32-bit integer.</summary>
    UInt32,
    /// <summary>Unsigned 64-bit integer.</summary>
    UInt64,
    /// <summary>Signed 8-bit integer.</summary>
    Int8,
    /// <summary>Signed 16-bit integer.</summary>
    Int16,
    /// <summary>Signed 32-bit integer.</summary>
    Int32,
    /// <summary>Signed 64-bit integer.</summary>
    Int64,
    /// <summary>IEEE 754 half precision.</summary>
    Fp16,
    /// <summary>IEEE 754 single precision.</summary>
    Fp32,
    /// <summary>IEEE 754 double precision.</summary>
    Fp64,
    /// <summary>Brain float 16.</summary>
    Bf16,
    /// <summary>Variable-length byte strings; on the wire each element is a 4-byte little-endian length then the bytes.</summary>
    Bytes,
}

/// <summary>Conversions between <see cref="DataType"/> and the protocols' names.</summary>
public static class DataTypes
{
    /// <summary>The KServe v2 name, e.g. <c>FP32</c>.</summary>
    public static string ToKServeName(this DataType type) => type switch
    {
        DataType.Bool => "BOOL",
        DataType.UInt8 => "UINT8",
        DataType.UInt16 => "UINT16",
        DataType.UInt32 => "UINT32",
        DataType.UInt64 => "UINT64",
        DataType.Int8 => "INT8",
        DataType.Int16 => "INT16",
        DataType.Int32 => "INT32",
        DataType.Int64 => "INT64",
        DataType.Fp16 => "FP16",
        DataType.Fp32 => "FP32",
        DataType.Fp64 => "FP64",
        DataType.Bf16 => "BF16",
        DataType.Bytes => "BYTES",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a tensor data type."),
    };

    /// <summary>Parses a KServe v2 name (<c>FP32</c>) or a Triton config name (<c>TYPE_FP32</c>, <c>TYPE_STRING</c>). Case-sensitive, as the specs are.</summary>
    public static bool TryParse(string? name, out DataType type)
    {
        type = DataType.Invalid;
        if (string.IsNullOrEmpty(name))
        {
            return false;
        }

        var bare = name.StartsWith("TYPE_", StringComparison.Ordinal) ? name[5..] : name;
        type = bare switch
        {
            "BOOL" => DataType.Bool,
            "UINT8" => DataType.UInt8,
            "UINT16" => DataType.UInt16,
            "UINT32" => DataType.UInt32,
            "UINT64" => DataType.UInt64,
            "INT8" => DataType.Int8,
            "INT16" => DataType.Int16,
            "INT32" => DataType.Int32,
            "INT64" => DataType.Int64,
            "FP16" => DataType.Fp16,
            "FP32" => DataType.Fp32,
            "FP64" => DataType.Fp64,
            "BF16" => DataType.Bf16,
            "BYTES" or "STRING" => DataType.Bytes,
            _ => DataType.Invalid,
        };
        return type != DataType.Invalid;
    }

    /// <summary>Bytes per element, or 0 for <see cref="DataType.Bytes"/>, whose elements vary in size.</summary>
    public static int ElementSize(this DataType type) => type switch
    {
        DataType.Bool or DataType.UInt8 or DataType.Int8 => 1,
        DataType.UInt16 or DataType.Int16 or DataType.Fp16 or DataType.Bf16 => 2,
        DataType.UInt32 or DataType.Int32 or DataType.Fp32 => 4,
        DataType.UInt64 or DataType.Int64 or DataType.Fp64 => 8,
        DataType.Bytes => 0,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Not a tensor data type."),
    };

    /// <summary>The Triton model-config name, e.g. <c>TYPE_FP32</c> (<c>TYPE_STRING</c> for BYTES).</summary>
    public static string ToTritonConfigName(this DataType type) =>
        type == DataType.Bytes ? "TYPE_STRING" : "TYPE_" + type.ToKServeName();
}
