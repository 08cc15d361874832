using Sluice.Core.Tensors;

namespace Sluice.Core.Tests.Tensors;

public sealed class TensorShapeTests
{
    [Theory]
    [InlineData(new long[] { }, 1)]
    [InlineData(new long[] { 0 }, 0)]
    [InlineData(new long[] { 2, 3, 4 }, 24)]
    [InlineData(new long[] { 1, 128 }, 128)]
    public void TryGetElementCount_ValidShapes_MultipliesDims(long[] shape, long expected)
    {
        Assert.True(TensorShape.TryGetElementCount(shape, out var count));
        Assert.Equal(expected, count);
    }

    [Theory]
    [InlineData(new long[] { -1, 4 })]
    [InlineData(new long[] { long.MaxValue, 2 })]
    [InlineData(new long[] { 4294967296, 4294967296 })]
    public void TryGetElementCount_NegativeOrOverflowing_Fails(long[] shape)
    {
        Assert.False(TensorShape.TryGetElementCount(shape, out _));
    }

    [Fact]
    public void TryGetByteSize_ProductFitsButBytesOverflow_Fails()
    {
        long[] shape = [long.MaxValue / 4];   // the element count fits in a long; times 8 bytes does not

        Assert.True(TensorShape.TryGetElementCount(shape, out _));
        Assert.False(TensorShape.TryGetByteSize(DataType.Int64, shape, out _));
    }

    [Fact]
    public void TryGetByteSize_VariableSizeType_Fails()
    {
        Assert.False(TensorShape.TryGetByteSize(DataType.Bytes, [2], out _));
    }

    [Fact]
    public void TryGetByteSize_Fp16Matrix_IsTwoBytesAnElement()
    {
        Assert.True(TensorShape.TryGetByteSize(DataType.Fp16, [3, 5], out var bytes));
        Assert.Equal(30, bytes);
    }
}
