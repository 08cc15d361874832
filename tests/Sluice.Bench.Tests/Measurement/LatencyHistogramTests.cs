using Sluice.Bench.Measurement;

namespace Sluice.Bench.Tests.Measurement;

public sealed class LatencyHistogramTests
{
    /// <summary>Nearest-rank percentile of a sorted array: the independent reference.</summary>
    private static long NearestRank(long[] sorted, double percentile)
    {
        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Length - 1e-9);   // 99.9% of 20000 is 19980, not 19980.000000000004
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Percentile_RandomLatencies_MatchSortedArrayWithinPrecision(int seed)
    {
        var random = new Random(seed);
        // A long-tailed mix, like real latencies: mostly 1-5 ms, some tens of ms, a few seconds.
        var values = Enumerable.Range(0, 20_000).Select(_ => random.NextDouble() switch
        {
            < 0.9 => random.NextInt64(1_000, 5_000),
            < 0.999 => random.NextInt64(5_000, 80_000),
            _ => random.NextInt64(80_000, 3_000_000),
        }).ToArray();
        var histogram = new LatencyHistogram();
        Parallel.ForEach(values, v => histogram.Record(v));   // recorded concurrently, as request tasks do
        Array.Sort(values);

        foreach (var p in (double[])[50, 90, 95, 99, 99.9])
        {
            var expected = NearestRank(values, p);
            var actual = histogram.Percentile(p);
            Assert.InRange(actual, expected, expected * 1.001 + 1);   // 3 significant digits: the bucket's highest equivalent value
        }

        Assert.Equal(values.Length, histogram.Count);
        Assert.InRange(histogram.Max, values[^1], values[^1] * 1.001 + 1);
    }

    [Fact]
    public void CountAtOrBelow_Threshold_CountsValuesUpToIt()
    {
        var histogram = new LatencyHistogram();
        foreach (var v in (long[])[100, 200, 300, 400, 50_000])
        {
            histogram.Record(v);
        }

        Assert.Equal(3, histogram.CountAtOrBelow(300));
        Assert.Equal(4, histogram.CountAtOrBelow(49_000));
        Assert.Equal(5, histogram.CountAtOrBelow(50_000));
        Assert.Equal(0, histogram.CountAtOrBelow(50));
    }

    [Fact]
    public void Cdf_RecordedValues_EndsAtOneAndRises()
    {
        var histogram = new LatencyHistogram();
        for (int i = 1; i <= 1000; i++)
        {
            histogram.Record(i * 10);
        }

        var cdf = histogram.Cdf();

        Assert.Equal(1.0, cdf[^1].Fraction, 9);
        Assert.True(cdf.Zip(cdf.Skip(1)).All(p => p.First.Fraction <= p.Second.Fraction && p.First.ValueUs < p.Second.ValueUs));
        Assert.Equal(0.5, cdf.First(p => p.ValueUs >= 5000).Fraction, 2);
    }

    [Fact]
    public void Percentile_Empty_IsZero()
    {
        var histogram = new LatencyHistogram();

        Assert.Equal(0, histogram.Percentile(99));
        Assert.Equal(0, histogram.Max);
    }
}
