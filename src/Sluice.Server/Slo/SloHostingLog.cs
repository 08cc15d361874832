using Microsoft.Extensions.Logging;

namespace Sluice.Server.Slo;

/// <summary>Event IDs of the SLO hosting (the SLO block is 4000s; the library uses 4000–4099, hosting 4100–4199).</summary>
internal static class SloEventIds
{
    public const int SloEngineStarted = 4100;
    public const int HistoryUnavailable = 4101;
    public const int WebhookSent = 4110;
    public const int WebhookRetrying = 4111;
    public const int WebhookGaveUp = 4112;
    public const int WebhookDropped = 4113;
    public const int GaugeSamplingFailed = 4120;
    public const int CalibrationUnreadable = 4121;
    public const int PeakSet = 4122;
    public const int GpuGaugesAvailable = 4123;
}

internal static partial class SloHostingLog
{
    [LoggerMessage(SloEventIds.SloEngineStarted, LogLevel.Information,
        "SLO engine evaluating {SloCount} SLO(s) from {SpecSource}; history in {HistoryPath}.")]
    public static partial void SloEngineStarted(this ILogger logger, int sloCount, string specSource, string historyPath);

    [LoggerMessage(SloEventIds.HistoryUnavailable, LogLevel.Error,
        "The SLO history {HistoryPath} cannot be opened; SLOs are evaluated from this run's events only.")]
    public static partial void HistoryUnavailable(this ILogger logger, string historyPath, Exception exception);

    [LoggerMessage(SloEventIds.WebhookSent, LogLevel.Debug, "Sent {AlertCount} SLO alert(s) to the webhook ({StatusCode}).")]
    public static partial void WebhookSent(this ILogger logger, int alertCount, int statusCode);

    [LoggerMessage(SloEventIds.WebhookRetrying, LogLevel.Warning,
        "The SLO alert webhook failed (attempt {Attempt} of {MaxAttempts}: {Reason}); retrying in {DelaySeconds:F0} s.")]
    public static partial void WebhookRetrying(this ILogger logger, int attempt, int maxAttempts, string reason, double delaySeconds);

    [LoggerMessage(SloEventIds.WebhookGaveUp, LogLevel.Error,
        "The SLO alert webhook failed {MaxAttempts} times ({Reason}); this notification is dropped.")]
    public static partial void WebhookGaveUp(this ILogger logger, int maxAttempts, string reason);

    [LoggerMessage(SloEventIds.WebhookDropped, LogLevel.Warning,
        "The SLO alert webhook queue is full; the oldest notification was dropped.")]
    public static partial void WebhookDropped(this ILogger logger);

    [LoggerMessage(SloEventIds.GaugeSamplingFailed, LogLevel.Warning, "Sampling the resource gauges for the SLOs failed.")]
    public static partial void GaugeSamplingFailed(this ILogger logger, Exception exception);

    [LoggerMessage(SloEventIds.CalibrationUnreadable, LogLevel.Warning,
        "The calibration of model '{ModelName}' version {ModelVersion} cannot be read ({Reason}); its throughput SLOs report no data.")]
    public static partial void CalibrationUnreadable(this ILogger logger, string modelName, string modelVersion, string reason);

    [LoggerMessage(SloEventIds.PeakSet, LogLevel.Information,
        "Throughput SLOs of model '{ModelName}' use the measured peak of {PeakInferencesPerSecond:F1} inferences/s (version {ModelVersion}).")]
    public static partial void PeakSet(this ILogger logger, string modelName, double peakInferencesPerSecond, string modelVersion);

    [LoggerMessage(SloEventIds.GpuGaugesAvailable, LogLevel.Information, "NVML found {DeviceCount} GPU(s): GPU gauges are sampled for the SLOs.")]
    public static partial void GpuGaugesAvailable(this ILogger logger, int deviceCount);
}
