using Sluice.Core.Configuration;
using Sluice.Engine.Scheduling;

namespace Sluice.Engine.Tests.Scheduling;

public sealed class BatchFormerTests
{
    private static BatchFormer Former(int max = 8, int[]? preferred = null, int delayMs = 5) =>
        new(max, new DynamicBatchingConfig { PreferredBatchSizes = preferred ?? [], MaxQueueDelay = TimeSpan.FromMilliseconds(delayMs) });

    public static TheoryData<int, int[], int, int, int, int> Cases => new()
    {
        // max, preferred, queued, waitedMs → take, waitMs
        { 8, [], 0, 0, 0, -1 },          // nothing queued: wait for an arrival
        { 8, [], 3, 2, 0, 3 },           // below max, delay not expired: wait the rest
        { 8, [], 3, 5, 3, 0 },           // delay expired: run what is there
        { 8, [], 8, 0, 8, 0 },           // max reached: run max at once
        { 8, [], 20, 0, 8, 0 },          // more than max: never exceed it
        { 8, [4], 3, 2, 0, 3 },          // below the preferred size: wait
        { 8, [4], 4, 0, 4, 0 },          // preferred size reached: run it at once
        { 8, [4], 5, 0, 4, 0 },          // past a preferred size: run the largest one that forms
        { 8, [2, 6], 7, 0, 6, 0 },       // largest preferred that can be formed
        { 8, [2, 6], 1, 9, 1, 0 },       // delay expired below every preferred size
        { 16, [4, 8], 12, 0, 8, 0 },
        { 4, [], 2, 0, 0, 5 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decide_Table_MatchesExpected(int max, int[] preferred, int queued, int waitedMs, int take, int waitMs)
    {
        var former = Former(max, preferred);

        var decision = former.Decide(queued, TimeSpan.FromMilliseconds(waitedMs));

        Assert.Equal(take, decision.Take);
        if (take == 0)
        {
            Assert.Equal(waitMs < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(waitMs), decision.WaitBeforeRetry);
        }
    }

    [Fact]
    public void Decide_BelowPreferredSizeAndDelayNotExpired_WaitsForRemainingDelay()
    {
        var former = Former(8, [4], 5);

        var decision = former.Decide(queuedRows: 3, oldestWait: TimeSpan.FromMilliseconds(2));

        Assert.False(decision.RunNow);
        Assert.Equal(TimeSpan.FromMilliseconds(3), decision.WaitBeforeRetry);
    }

    public static TheoryData<double, int, int, int> ArrivalRateCases => new()
    {
        // arrivals/s, waited ms, expected take, expected wait ms   (max 8, preferred [4], delay 5 ms, 3 rows queued)
        { 0, 0, 3, 0 },            // nobody else is coming: run now
        { 50, 0, 3, 0 },           // one client at 20 ms a request: 0.25 expected in 5 ms, below 0.5
        { 100, 0, 0, 5 },          // 0.5 expected in 5 ms: worth waiting
        { 100, 2, 3, 0 },          // but with 3 ms left only 0.3 more are expected
        { 10_000, 2, 0, 3 },       // busy: wait the rest of the delay
    };

    [Theory]
    [MemberData(nameof(ArrivalRateCases))]
    public void Decide_WithArrivalRate_WaitsOnlyWhenACompanionIsExpected(double arrivalsPerSecond, int waitedMs, int take, int waitMs)
    {
        var former = new BatchFormer(8, new DynamicBatchingConfig { PreferredBatchSizes = [4], MaxQueueDelay = TimeSpan.FromMilliseconds(5) });

        var decision = former.Decide(3, TimeSpan.FromMilliseconds(waitedMs), flush: false, arrivalsPerSecond);

        Assert.Equal(take, decision.Take);
        Assert.Equal(TimeSpan.FromMilliseconds(waitMs), decision.WaitBeforeRetry);
    }

    [Fact]
    public void Decide_Flushing_RunsWhatIsQueuedWithoutWaiting()
    {
        var former = Former(8, [4], 500);

        var decision = former.Decide(queuedRows: 3, oldestWait: TimeSpan.Zero, flush: true);

        Assert.Equal(3, decision.Take);
    }

    [Fact]
    public void Decide_ZeroDelay_RunsImmediately()
    {
        var former = Former(8, [], 0);

        var decision = former.Decide(queuedRows: 1, oldestWait: TimeSpan.Zero);

        Assert.Equal(1, decision.Take);
    }

    [Fact]
    public void Constructor_PreferredSizesAboveMax_AreIgnored()
    {
        var former = Former(4, [16], 5);

        var decision = former.Decide(queuedRows: 4, oldestWait: TimeSpan.Zero);

        Assert.Equal(4, decision.Take);
    }
}
