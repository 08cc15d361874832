namespace Sluice.Core.Tensors;

/// <summary>Overflow-checked shape arithmetic, done before any allocation that a client's numbers size.</summary>
public static class TensorShape
{
    /// <summary>Product of the dimensions; false when a dimension is negative or the product overflows <see cref="long"/>.</summary>
    public static bool TryGetElementCount(ReadOnlySpan<long> shape, out long count)
    {
        count = 1;
        foreach (var dim in shape)
        {
            if (dim < 0)
            {
                count = 0;
                return false;
            }

            try
            {
                count = checked(count * dim);
            }
            catch (OverflowException)
            {
                count = 0;
                return false;
            }
        }

        return true;
    }

    /// <summary>Byte size of a fixed-size tensor; false on a negative dimension, overflow, or a variable-size type.</summary>
    public static bool TryGetByteSize(DataType type, ReadOnlySpan<long> shape, out long bytes)
    {
        bytes = 0;
        var elementSize = type.ElementSize();
        if (elementSize == 0 || !TryGetElementCount(shape, out var count))
        {
            return false;
        }

        try
        {
            bytes = checked(count * elementSize);
            return true;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    /// <summary>Formats a shape as <c>[1,128]</c> for error messages.</summary>
    public static string Format(ReadOnlySpan<long> shape) => "[" + string.Join(",", shape.ToArray()) + "]";
}
