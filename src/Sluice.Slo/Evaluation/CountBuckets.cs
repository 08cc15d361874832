namespace Sluice.Slo.Evaluation;

/// <summary>Good and total counts (events or time slices), possibly pro-rated from hourly buckets.</summary>
public readonly record struct GoodTotal(double Good, double Total)
{
    /// <summary>Total − good.</summary>
    public double Bad => Total - Good;

    /// <summary>Bad / total, or null when there was nothing to count.</summary>
    public double? ErrorRatio => Total > 0 ? Bad / Total : null;
}

/// <summary>
/// Maps instants to minute buckets. Bucket <c>b</c> holds what happened in (<c>b</c>·1m, (<c>b</c>+1)·1m] (Unix time), so
/// counts ingested exactly at a minute boundary belong to the minute that just ended, the way a Prometheus sample at
/// <c>t</c> closes the interval that ends at <c>t</c>.
/// </summary>
public static class BucketClock
{
    private const long MinuteMs = 60_000;

    /// <summary>The bucket an instant's counts go to.</summary>
    public static long BucketOf(DateTimeOffset at) => ((at.ToUnixTimeMilliseconds() + MinuteMs - 1) / MinuteMs) - 1;

    /// <summary>The instant at which a bucket ends.</summary>
    public static DateTimeOffset EndOf(long bucket) => DateTimeOffset.FromUnixTimeMilliseconds((bucket + 1) * MinuteMs);
}

/// <summary>
/// Fixed-memory per-SLO counts: a ring of minute buckets covering the last <see cref="MinuteCapacity"/> minutes (26 h) and a
/// ring of hour buckets covering the SLO window. Memory and the cost of a window sum depend only on the window, never on
/// the request rate. Not thread-safe: one evaluation thread owns it.
/// </summary>
/// <remarks>
/// Windows up to a day are summed exactly from minutes. Longer windows take the last full day (plus the current hour)
/// from minutes and the older part from hours, pro-rating the oldest, partly covered hour; after a restart the history
/// store restores minutes for the last day and hours before it, which is exactly what this needs.
/// </remarks>
internal sealed class CountBuckets
{
    /// <summary>Minutes kept at minute resolution: 26 hours (24 h plus the current and one spare hour).</summary>
    public const int MinuteCapacity = 26 * 60;

    private readonly Slot[] _minutes = new Slot[MinuteCapacity];
    private readonly Slot[] _hours;

    public CountBuckets(TimeSpan window)
    {
        _hours = new Slot[(int)Math.Ceiling(window.TotalHours) + 2];
        Array.Fill(_minutes, new Slot(long.MinValue, 0, 0));
        Array.Fill(_hours, new Slot(long.MinValue, 0, 0));
    }

    /// <summary>Adds counts to a minute bucket (and its hour).</summary>
    public void Add(long bucket, long good, long total)
    {
        AddTo(_minutes, bucket, good, total);
        AddTo(_hours, FloorDiv(bucket, 60), good, total);
    }

    /// <summary>Adds counts to an hour bucket only (history compacted to hours).</summary>
    public void AddHour(long hour, long good, long total) => AddTo(_hours, hour, good, total);

    /// <summary>The counts of one minute bucket (zero when it has left the ring).</summary>
    public (long Good, long Total) GetMinute(long bucket)
    {
        var slot = _minutes[Index(bucket, _minutes.Length)];
        return slot.Id == bucket ? (slot.Good, slot.Total) : (0, 0);
    }

    /// <summary>Sums the <paramref name="minutes"/> buckets ending with <paramref name="endBucket"/> (inclusive).</summary>
    public GoodTotal Sum(long endBucket, int minutes)
    {
        long start = endBucket - minutes + 1;
        if (minutes <= 24 * 60)
        {
            return SumMinutes(start, endBucket);
        }

        // :: Minute part: from the hour boundary 24 h before the current hour up to now.
        long boundary = (FloorDiv(endBucket, 60) - 24) * 60;
        var recent = SumMinutes(Math.Max(start, boundary), endBucket);
        if (start >= boundary)
        {
            return recent;
        }

        // :: Hour part: whole hours before the boundary, the oldest pro-rated by the share of it inside the window.
        double good = recent.Good, total = recent.Total;
        long firstHour = FloorDiv(start, 60);
        for (long hour = firstHour; hour < boundary / 60; hour++)
        {
            var slot = _hours[Index(hour, _hours.Length)];
            if (slot.Id != hour)
            {
                continue;
            }

            double share = hour == firstHour ? (60 - (start - (hour * 60))) / 60.0 : 1;
            good += slot.Good * share;
            total += slot.Total * share;
        }

        return new GoodTotal(good, total);
    }

    private GoodTotal SumMinutes(long from, long to)
    {
        long good = 0, total = 0;
        for (long bucket = Math.Max(from, to - MinuteCapacity + 1); bucket <= to; bucket++)
        {
            var slot = _minutes[Index(bucket, _minutes.Length)];
            if (slot.Id == bucket)
            {
                good += slot.Good;
                total += slot.Total;
            }
        }

        return new GoodTotal(good, total);
    }

    private static void AddTo(Slot[] ring, long id, long good, long total)
    {
        ref var slot = ref ring[Index(id, ring.Length)];
        if (slot.Id != id)
        {
            // A newer id takes over the slot; an older one (late restore of data already out of range) is dropped.
            if (slot.Id > id)
            {
                return;
            }

            slot = new Slot(id, 0, 0);
        }

        slot.Good += good;
        slot.Total += total;
    }

    private static int Index(long id, int length) => (int)(((id % length) + length) % length);

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : ((a + 1) / b) - 1;

    private struct Slot(long id, long good, long total)
    {
        public long Id = id;
        public long Good = good;
        public long Total = total;
    }
}
