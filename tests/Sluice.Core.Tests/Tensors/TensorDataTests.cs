using Sluice.Core.Tensors;

namespace Sluice.Core.Tests.Tensors;

public sealed class TensorDataTests
{
    [Fact]
    public void From_FloatValues_RoundTripsThroughLittleEndianBytes()
    {
        float[] values = [1.5f, -2f, 3.25f, 0f];

        var tensor = TensorData.From<float>("x", [2, 2], values);

        Assert.Equal(DataType.Fp32, tensor.DataType);
        Assert.Equal(16, tensor.Data.Length);
        Assert.Equal(BitConverter.GetBytes(1.5f), tensor.Data.Span[..4].ToArray());
        Assert.Equal(values, tensor.ToArray<float>());
        Assert.Equal(4, tensor.ElementCount);
    }

    [Fact]
    public void ToArray_WrongElementType_ThrowsNamingTheTensor()
    {
        var tensor = TensorData.From<long>("ids", [1], [7L]);

        var error = Assert.Throws<InvalidOperationException>(() => tensor.ToArray<float>());

        Assert.Contains("ids", error.Message);
        Assert.Contains("INT64", error.Message);
    }

    [Fact]
    public void Constructor_EmptyName_Throws()
    {
        Assert.Throws<ArgumentException>(() => new TensorData("", DataType.Fp32, [1], new byte[4]));
    }
}
