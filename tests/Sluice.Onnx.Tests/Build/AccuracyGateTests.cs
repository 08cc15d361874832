using Sluice.Core.Tensors;
using Sluice.Onnx.Build;

namespace Sluice.Onnx.Tests.Build;

public sealed class AccuracyGateTests
{
    [Fact]
    public void RowCosines_ParallelOrthogonalOpposite_OneZeroMinusOne()
    {
        float[] x = [1, 2, 1, 0, 1, 1];
        float[] y = [2, 4, 0, 1, -1, -1];

        Assert.Equal([1.0, 0.0, -1.0], AccuracyGate.RowCosines(x, y, 2).Select(c => Math.Round(c, 12)));
    }

    [Fact]
    public void MeanPool_WithMask_AveragesOnlyUnmaskedPositions()
    {
        // [batch 1, seq 3, dim 2]; the last position is padding.
        float[] values = [1, 2, 3, 4, 100, 100];
        var mask = TensorData.From("attention_mask", [1, 3], new long[] { 1, 1, 0 }.AsSpan());

        Assert.Equal([2f, 3f], AccuracyGate.MeanPool(values, [1, 3, 2], mask));
        Assert.Equal([104f / 3, 106f / 3], AccuracyGate.MeanPool(values, [1, 3, 2], null));
    }

    [Theory]
    [InlineData("cosine", GateMetric.Cosine)]
    [InlineData("TOP1", GateMetric.Top1)]
    public void ParseMetric_KnownNames_Parse(string name, GateMetric expected) => Assert.Equal(expected, AccuracyGate.ParseMetric(name));

    [Fact]
    public void ParseMetric_Unknown_NamesTheChoices() =>
        Assert.Contains("cosine, top1", Assert.Throws<ArgumentException>(() => AccuracyGate.ParseMetric("mse")).Message);
}
