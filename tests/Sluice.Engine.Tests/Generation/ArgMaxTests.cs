using System.Numerics.Tensors;
using Sluice.Engine.Generation;

namespace Sluice.Engine.Tests.Generation;

/// <summary>Greedy's argmax gives exactly what TensorPrimitives.IndexOfMax gives: first index on ties, NaN first, signed zeros.</summary>
public sealed class ArgMaxTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(50257)]
    public void ArgMax_RandomLogits_EqualsIndexOfMax(int length)
    {
        var random = new Random(length);
        for (var trial = 0; trial < 50; trial++)
        {
            var logits = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 40 - 20)).ToArray();

            Assert.Equal(TensorPrimitives.IndexOfMax<float>(logits), Sampler.ArgMax(logits));
        }
    }

    [Fact]
    public void ArgMax_TiedMaximum_IsTheFirst()
    {
        float[] logits = [1f, 5f, 3f, 5f, 5f];

        Assert.Equal(1, Sampler.ArgMax(logits));
    }

    [Fact]
    public void ArgMax_NaNPresent_IsTheFirstNaNAsIndexOfMaxSays()
    {
        float[] logits = [1f, 9f, float.NaN, 3f, float.NaN];

        Assert.Equal(TensorPrimitives.IndexOfMax<float>(logits), Sampler.ArgMax(logits));
    }

    [Fact]
    public void ArgMax_ZeroMaximumWithBothSigns_EqualsIndexOfMax()
    {
        float[] logits = [-1f, -0f, -3f, 0f, -2f];

        Assert.Equal(TensorPrimitives.IndexOfMax<float>(logits), Sampler.ArgMax(logits));
    }

    [Fact]
    public void ArgMax_InfinityAndNegativeOnly_Found()
    {
        Assert.Equal(2, Sampler.ArgMax([-5f, -1f, float.PositiveInfinity, 3f]));
        Assert.Equal(1, Sampler.ArgMax([-5f, -1f, -3f]));
        Assert.Equal(-1, Sampler.ArgMax([]));
    }
}
