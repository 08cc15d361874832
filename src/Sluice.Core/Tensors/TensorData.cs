namespace Sluice.Core.Tensors;

/// <summary>
/// One named tensor with its data in row-major, little-endian bytes: the form both KServe's binary extension and ONNX Runtime
/// use, so a tensor crosses from the wire to the runtime without per-element conversion. For <see cref="DataType.Bytes"/>,
/// <see cref="Data"/> holds each element as a 4-byte little-endian length followed by its bytes.
/// </summary>
/// <remarks>Immutable by convention: whoever builds one does not write to <see cref="Data"/> afterwards.</remarks>
public sealed class TensorData
{
    public TensorData(string name, DataType dataType, long[] shape, ReadOnlyMemory<byte> data)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        Name = name;
        DataType = dataType;
        Shape = shape;
        Data = data;
    }

    /// <summary>The input or output name, as the model declares it.</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public DataType DataType { get; }

    /// <summary>The dimensions; never negative here (wildcards are resolved before a tensor exists).</summary>
    public long[] Shape { get; }

    /// <summary>The elements, row-major, little-endian.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>Number of elements (product of <see cref="Shape"/>).</summary>
    public long ElementCount
    {
        get
        {
            TensorShape.TryGetElementCount(Shape, out var count);
            return count;
        }
    }

    /// <summary>Creates a tensor from typed values (copied), e.g. <c>TensorData.From("x", [2, 3], new float[6])</c>.</summary>
    public static TensorData From<T>(string name, long[] shape, ReadOnlySpan<T> values) where T : unmanaged
    {
        var type = ClrDataType.Of<T>();
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).ToArray();
        return new TensorData(name, type, shape, bytes);
    }

    /// <summary>Reads the elements as <typeparamref name="T"/> (a copy), checking that <typeparamref name="T"/> matches <see cref="DataType"/>.</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        if (ClrDataType.Of<T>() != DataType)
        {
            throw new InvalidOperationException($"Tensor '{Name}' is {DataType.ToKServeName()}, not {typeof(T).Name}.");
        }

        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(Data.Span).ToArray();
    }

    public override string ToString() => $"{Name} {DataType.ToKServeName()} {TensorShape.Format(Shape)}";
}

/// <summary>Maps CLR element types to <see cref="DataType"/>.</summary>
public static class ClrDataType
{
    public static DataType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DataType.Fp32;
        if (typeof(T) == typeof(long)) return DataType.Int64;
        if (typeof(T) == typeof(int)) return DataType.Int32;
        if (typeof(T) == typeof(double)) return DataType.Fp64;
        if (typeof(T) == typeof(Half)) return DataType.Fp16;
        if (typeof(T) == typeof(byte)) return DataType.UInt8;
        if (typeof(T) == typeof(sbyte)) return DataType.Int8;
        if (typeof(T) == typeof(short)) return DataType.Int16;
        if (typeof(T) == typeof(ushort)) return DataType.UInt16;
        if (typeof(T) == typeof(uint)) return DataType.UInt32;
        if (typeof(T) == typeof(ulong)) return DataType.UInt64;
        if (typeof(T) == typeof(bool)) return DataType.Bool;
        throw new NotSupportedException($"No tensor data type for {typeof(T).Name}.");
    }
}
