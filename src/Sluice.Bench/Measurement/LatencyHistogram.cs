using HdrHistogram;

namespace Sluice.Bench.Measurement;

/// <summary>
/// Exact-to-3-significant-digits latency distribution in microseconds (HdrHistogram), safe to record into from many
/// threads at once. Values up to one hour.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>The largest value recorded exactly; larger values are clamped to it.</summary>
    public const long HighestTrackableUs = 3_600_000_000;

    private readonly LongConcurrentHistogram _histogram = new(1, HighestTrackableUs, 3);

    /// <summary>Values recorded.</summary>
    public long Count => _histogram.TotalCount;

    /// <summary>Records one value in microseconds.</summary>
    public void Record(long microseconds) => _histogram.RecordValue(Math.Clamp(microseconds, 1, HighestTrackableUs));

    /// <summary>Adds every value of <paramref name="other"/>.</summary>
    public void Add(LatencyHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        _histogram.Add(other._histogram);
    }

    /// <summary>The value at <paramref name="percentile"/> (0..100) in microseconds, or 0 when empty.</summary>
    public long Percentile(double percentile) => Count == 0 ? 0 : _histogram.GetValueAtPercentile(percentile);

    /// <summary>The largest recorded value, or 0 when empty.</summary>
    public long Max => Count == 0 ? 0 : _histogram.GetMaxValue();

    /// <summary>The mean in microseconds, or 0 when empty.</summary>
    public double Mean => Count == 0 ? 0 : _histogram.GetMean();

    /// <summary>How many recorded values are at most <paramref name="thresholdUs"/> (to HdrHistogram's precision).</summary>
    public long CountAtOrBelow(long thresholdUs)
    {
        long count = 0;
        foreach (var bucket in _histogram.RecordedValues())
        {
            if (_histogram.LowestEquivalentValue(bucket.ValueIteratedTo) > thresholdUs)
            {
                break;
            }

            count += bucket.CountAtValueIteratedTo;
        }

        return count;
    }

    /// <summary>The cumulative distribution: (latency µs, fraction of values at or below it), one point per recorded bucket.</summary>
    public IReadOnlyList<(long ValueUs, double Fraction)> Cdf()
    {
        var total = Count;
        var points = new List<(long, double)>();
        if (total == 0)
        {
            return points;
        }

        long cumulative = 0;
        foreach (var bucket in _histogram.RecordedValues())
        {
            cumulative += bucket.CountAtValueIteratedTo;
            points.Add((_histogram.HighestEquivalentValue(bucket.ValueIteratedTo), (double)cumulative / total));
        }

        return points;
    }
}
