using Sluice.Slo.Evaluation;

namespace Sluice.Slo.Tests.Evaluation;

public sealed class CountBucketsTests
{
    [Fact]
    public void BucketOf_MinuteBoundary_BelongsToTheMinuteThatEnded()
    {
        var boundary = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

        Assert.Equal(BucketClock.BucketOf(boundary - TimeSpan.FromSeconds(30)), BucketClock.BucketOf(boundary));
        Assert.Equal(BucketClock.BucketOf(boundary) + 1, BucketClock.BucketOf(boundary + TimeSpan.FromMilliseconds(1)));
        Assert.Equal(boundary, BucketClock.EndOf(BucketClock.BucketOf(boundary)));
    }

    [Fact]
    public void Sum_ShortWindow_CountsExactlyTheLastMinutes()
    {
        var buckets = new CountBuckets(TimeSpan.FromDays(30));
        for (long b = 1000; b < 1100; b++)
        {
            buckets.Add(b, good: 9, total: 10);
        }

        Assert.Equal(new GoodTotal(45, 50), buckets.Sum(1099, 5));
        Assert.Equal(new GoodTotal(900, 1000), buckets.Sum(1099, 24 * 60));
        Assert.Equal(new GoodTotal(0, 0), buckets.Sum(2000, 5));
    }

    [Fact]
    public void Sum_LongWindow_UsesHoursBeyondADayAndProRatesTheOldestHour()
    {
        var buckets = new CountBuckets(TimeSpan.FromDays(3));
        long end = (100 * 24 * 60) + 59;        // the last minute of an hour
        for (long b = end - (3 * 24 * 60) - 120; b <= end; b++)
        {
            buckets.Add(b, good: 1, total: 2);   // steady: 2 events a minute
        }

        var threeDays = buckets.Sum(end, 3 * 24 * 60);
        var threeDaysAndAHalfHour = buckets.Sum(end, (3 * 24 * 60) + 30);

        Assert.Equal(new GoodTotal(3 * 24 * 60, 2 * 3 * 24 * 60), threeDays);
        Assert.Equal(2 * ((3 * 24 * 60) + 30), threeDaysAndAHalfHour.Total, 9);   // the half hour pro-rated from its hour bucket
    }

    [Fact]
    public void Sum_AfterRingWrapped_ForgetsOverwrittenMinutesButHoursRemain()
    {
        var buckets = new CountBuckets(TimeSpan.FromDays(30));
        buckets.Add(0, 5, 5);
        buckets.Add(CountBuckets.MinuteCapacity, 1, 1);   // same slot, newer minute

        Assert.Equal((0L, 0L), buckets.GetMinute(0));
        Assert.Equal((1L, 1L), buckets.GetMinute(CountBuckets.MinuteCapacity));
        buckets.Add(0, 7, 7);                              // late write for a minute gone from the ring: dropped
        Assert.Equal((1L, 1L), buckets.GetMinute(CountBuckets.MinuteCapacity));
    }
}
