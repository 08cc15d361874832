using Sluice.Core.Tensors;
using Sluice.Onnx.Build;

namespace Sluice.Onnx.Tests.Build;

public sealed class ShapeProfileTests
{
    private static readonly ShapeProfile s_profile = ShapeProfile.Parse(["input_ids:1x8,8x128,32x256;attention_mask:1x8,8x128,32x256"]);

    [Fact]
    public void Parse_TwoInputs_ReadsMinOptMax()
    {
        var ids = s_profile.Find("input_ids")!;

        Assert.Equal([1L, 8L], ids.Min);
        Assert.Equal([8L, 128L], ids.Opt);
        Assert.Equal([32L, 256L], ids.Max);
        Assert.Equal(["input_ids", "attention_mask"], s_profile.Inputs.Select(i => i.Name));
    }

    [Fact]
    public void Check_InsideProfile_ReturnsNull()
    {
        Assert.Null(s_profile.Check(Ids([4, 100])));
        Assert.Null(s_profile.Check(Ids([1, 8])));
        Assert.Null(s_profile.Check(Ids([32, 256])));
    }

    [Fact]
    public void Check_InputWithoutProfile_ReturnsNull() =>
        Assert.Null(s_profile.Check(TensorData.From("token_type_ids", [1, 999], new long[999].AsSpan())));

    [Fact]
    public void Check_SequenceAboveMax_NamesInputDimensionAndRange()
    {
        var message = s_profile.Check(Ids([2, 300]));

        Assert.NotNull(message);
        Assert.Contains("'input_ids'", message);
        Assert.Contains("dimension 1 must be between 8 and 256", message);
        Assert.Contains("[2,300]", message.Replace(" ", ""));
    }

    [Fact]
    public void Check_BatchBelowMin_NamesDimensionZero()
    {
        var profile = ShapeProfile.Parse(["x:2x4,4x4,8x4"]);

        var message = profile.Check(TensorData.From("x", [1, 4], new float[4].AsSpan()));

        Assert.Contains("'x'", message);
        Assert.Contains("dimension 0 must be between 2 and 8", message);
    }

    [Fact]
    public void Check_WrongRank_SaysExpectedRank()
    {
        var message = s_profile.Check(Ids([8]));

        Assert.Contains("'input_ids'", message);
        Assert.Contains("rank 2", message);
    }

    [Fact]
    public void TensorRtOptions_TwoInputs_FormatsTrtexecStyleLists()
    {
        var options = s_profile.TensorRtOptions();

        Assert.Equal("input_ids:1x8,attention_mask:1x8", options["trt_profile_min_shapes"]);
        Assert.Equal("input_ids:8x128,attention_mask:8x128", options["trt_profile_opt_shapes"]);
        Assert.Equal("input_ids:32x256,attention_mask:32x256", options["trt_profile_max_shapes"]);
        Assert.Empty(ShapeProfile.Empty.TensorRtOptions());
    }

    [Theory]
    [InlineData("input_ids", "input_ids")]
    [InlineData("input_ids:1x8,8x128", "three shapes")]
    [InlineData("input_ids:1x8,8x128,4x256", "min <= opt <= max")]
    [InlineData("input_ids:1x8,8x128x2,32x256", "same rank")]
    [InlineData("input_ids:1x0,8x128,32x256", "positive sizes")]
    [InlineData("input_ids:1xa,8x128,32x256", "'input_ids'")]
    public void Parse_Invalid_ThrowsFormatExceptionSayingWhy(string spec, string expected)
    {
        var error = Assert.Throws<FormatException>(() => ShapeProfile.Parse([spec]));

        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Parse_SameInputTwice_Throws() =>
        Assert.Contains("given twice", Assert.Throws<FormatException>(() => ShapeProfile.Parse(["x:1,2,3", "x:1,2,3"])).Message);

    private static TensorData Ids(long[] shape) =>
        TensorData.From("input_ids", shape, new long[shape.Aggregate(1L, (a, b) => a * b)].AsSpan());
}
