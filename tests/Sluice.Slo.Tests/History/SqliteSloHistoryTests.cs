using Microsoft.Extensions.Time.Testing;
using Sluice.Slo.Evaluation;
using Sluice.Slo.History;
using Sluice.Slo.Tests.TestSupport;

namespace Sluice.Slo.Tests.History;

public sealed class SqliteSloHistoryTests
{
    [Fact]
    public void Restore_AfterRestartMidWindow_WindowHoldsBothRunsCounts()
    {
        using var temp = new TempDirectory();
        var path = temp.File("history.db");
        var clock = new FakeTimeProvider(Slos.Start);

        // :: First run: 90 minutes at 1% bad, flushed every minute.
        using (var history = SqliteSloHistory.Open(path, TimeSpan.FromDays(30)))
        {
            var first = new SloEvaluator([Slos.Availability()], clock);
            for (int minute = 0; minute < 90; minute++)
            {
                Slos.Drive(clock, first, 1, 99, 1);
                history.Flush(first, clock.GetUtcNow());
            }

            Assert.Equal("wal", history.JournalMode);
        }

        // :: The process is gone for 10 minutes; the second run restores and adds 30 minutes at 10% bad.
        clock.Advance(TimeSpan.FromMinutes(10));
        using (var history = SqliteSloHistory.Open(path, TimeSpan.FromDays(30)))
        {
            var second = new SloEvaluator([Slos.Availability()], clock);
            history.Restore(second);
            var status = Slos.Drive(clock, second, 30, 90, 10)[^1][0];

            // 90 × 100 + 30 × 100 events; 90 + 300 bad.
            Assert.Equal(new GoodTotal(12000 - 390, 12000), status.WindowCounts);
            Assert.Equal(1 - (390.0 / 12000), status.Sli!.Value, 12);
            // The 1h window: the last 30 minutes of the first run are outside it (10 minutes gap + 30 minutes), 20 inside.
            Assert.Equal(new GoodTotal((20 * 99) + (30 * 90), 5000), status.BurnRate(TimeSpan.FromHours(1))!.Counts);
        }
    }

    [Fact]
    public void Flush_KillWithoutFinalFlush_LosesAtMostTheLastMinute()
    {
        using var temp = new TempDirectory();
        var path = temp.File("history.db");
        var clock = new FakeTimeProvider(Slos.Start);
        using (var history = SqliteSloHistory.Open(path, TimeSpan.FromDays(30)))
        {
            var evaluator = new SloEvaluator([Slos.Availability()], clock);
            for (int minute = 0; minute < 10; minute++)
            {
                Slos.Drive(clock, evaluator, 1, 100, 0);
                history.Flush(evaluator, clock.GetUtcNow());
            }

            Slos.Drive(clock, evaluator, 1, 100, 0);   // evaluated but never flushed: "kill -9"
        }

        using var reopened = SqliteSloHistory.Open(path, TimeSpan.FromDays(30));
        var restored = new SloEvaluator([Slos.Availability()], clock);
        reopened.Restore(restored);

        Assert.Equal(1000, restored.Evaluate()[0].WindowCounts.Total);
    }

    [Fact]
    public void Compact_MinutesOlderThanADay_BecomeHoursAndTheWindowIsUnchanged()
    {
        using var temp = new TempDirectory();
        var path = temp.File("history.db");
        var clock = new FakeTimeProvider(Slos.Start);
        var slo = Slos.Availability(window: TimeSpan.FromDays(3));
        using var history = SqliteSloHistory.Open(path, slo.Window);
        var evaluator = new SloEvaluator([slo], clock);
        for (int hour = 0; hour < 30; hour++)
        {
            Slos.Drive(clock, evaluator, 60, 58, 2);
            history.Flush(evaluator, clock.GetUtcNow());
        }

        var (minuteRows, hourRows) = history.CountRows();
        var restored = new SloEvaluator([slo], clock);
        history.Restore(restored);

        Assert.Equal(25 * 60, minuteRows);    // the current hour and the 24 before it at minute resolution
        Assert.Equal(5, hourRows);            // the 5 hours before them compacted
        Assert.Equal(new GoodTotal(30 * 60 * 58, 30 * 60 * 60), restored.Evaluate()[0].WindowCounts);
    }

    [Fact]
    public void Compact_RowsOlderThanTheLongestWindow_AreDeleted()
    {
        using var temp = new TempDirectory();
        var clock = new FakeTimeProvider(Slos.Start);
        var slo = Slos.Availability(window: TimeSpan.FromHours(6));
        using var history = SqliteSloHistory.Open(temp.File("history.db"), slo.Window);
        var evaluator = new SloEvaluator([slo], clock);
        for (int hour = 0; hour < 48; hour++)
        {
            Slos.Drive(clock, evaluator, 60, 10, 0);
            history.Flush(evaluator, clock.GetUtcNow());
        }

        var rows = history.CountRows();

        Assert.Equal(25 * 60, rows.MinuteRows);
        Assert.True(rows.HourRows <= 8, $"hour rows {rows.HourRows}: retention is the 6 h window plus 2 h");
    }
}
