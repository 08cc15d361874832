using Microsoft.Extensions.Logging;
using Sluice.Slo.Evaluation;

namespace Sluice.Slo;

/// <summary>Event IDs of the SLO capability (4000s).</summary>
internal static class EventIds
{
    public const int AlertTransitioned = 4000;
    public const int HistoryFlushed = 4010;
    public const int HistoryRestored = 4011;
    public const int HistoryFlushFailed = 4012;
    public const int EvaluationFailed = 4020;
}

internal static partial class Log
{
    [LoggerMessage(EventIds.AlertTransitioned, LogLevel.Warning,
        "SLO '{SloName}' {Severity} alert went from {FromState} to {ToState} (burn rates {LongBurnRate:F2} / {ShortBurnRate:F2}).")]
    public static partial void AlertTransitioned(this ILogger logger, string sloName, AlertSeverity severity,
        AlertState fromState, AlertState toState, double longBurnRate, double shortBurnRate);

    [LoggerMessage(EventIds.HistoryFlushed, LogLevel.Debug, "Flushed {RowCount} SLO history rows.")]
    public static partial void HistoryFlushed(this ILogger logger, int rowCount);

    [LoggerMessage(EventIds.HistoryRestored, LogLevel.Information,
        "Restored SLO history: {MinuteRows} minute rows and {HourRows} hour rows.")]
    public static partial void HistoryRestored(this ILogger logger, int minuteRows, int hourRows);

    [LoggerMessage(EventIds.HistoryFlushFailed, LogLevel.Error, "Flushing the SLO history failed; will retry next minute.")]
    public static partial void HistoryFlushFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventIds.EvaluationFailed, LogLevel.Error, "SLO evaluation failed; will retry next interval.")]
    public static partial void EvaluationFailed(this ILogger logger, Exception exception);
}
