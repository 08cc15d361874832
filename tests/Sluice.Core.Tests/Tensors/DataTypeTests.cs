using Sluice.Core.Tensors;

namespace Sluice.Core.Tests.Tensors;

public sealed class DataTypeTests
{
    public static TheoryData<DataType, string, int> AllTypes => new()
    {
        { DataType.Bool, "BOOL", 1 },
        { DataType.UInt8, "UINT8", 1 },
        { DataType.UInt16, "UINT16", 2 },
        { DataType.UInt32, "UINT32", 4 },
        { DataType.UInt64, "UINT64", 8 },
        { DataType.Int8, "INT8", 1 },
        { DataType.Int16, "INT16", 2 },
        { DataType.Int32, "INT32", 4 },
        { DataType.Int64, "INT64", 8 },
        { DataType.Fp16, "FP16", 2 },
        { DataType.Fp32, "FP32", 4 },
        { DataType.Fp64, "FP64", 8 },
        { DataType.Bf16, "BF16", 2 },
        { DataType.Bytes, "BYTES", 0 },
    };

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void ToKServeName_EveryType_RoundTripsThroughTryParse(DataType type, string name, int size)
    {
        Assert.Equal(name, type.ToKServeName());
        Assert.True(DataTypes.TryParse(name, out var parsed));
        Assert.Equal(type, parsed);
        Assert.Equal(size, type.ElementSize());
    }

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void ToTritonConfigName_EveryType_ParsesBack(DataType type, string name, int size)
    {
        _ = name;
        _ = size;
        Assert.True(DataTypes.TryParse(type.ToTritonConfigName(), out var parsed));
        Assert.Equal(type, parsed);
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("FLOAT")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("TYPE_")]
    public void TryParse_UnknownOrWrongCase_Fails(string? name)
    {
        Assert.False(DataTypes.TryParse(name, out var parsed));
        Assert.Equal(DataType.Invalid, parsed);
    }

    [Fact]
    public void TryParse_TritonStringType_IsBytes()
    {
        Assert.True(DataTypes.TryParse("TYPE_STRING", out var parsed));
        Assert.Equal(DataType.Bytes, parsed);
    }
}
