using Microsoft.Extensions.Logging;

namespace Sluice.Server.Telemetry;

/// <summary>Telemetry's source-generated log messages (event ids 5000s).</summary>
internal static partial class TelemetryLog
{
    [LoggerMessage(5000, LogLevel.Warning, "The inference observer '{Observer}' threw; the request's outcome stands.")]
    public static partial void ObserverFailed(this ILogger logger, string observer, Exception exception);

    [LoggerMessage(5001, LogLevel.Information, "NVML is not available ({Reason}); GPU metrics are not exported.")]
    public static partial void NvmlUnavailable(this ILogger logger, string reason);

    [LoggerMessage(5002, LogLevel.Warning, "Could not read the calibration of model '{ModelName}' version {ModelVersion}: {Reason}")]
    public static partial void CalibrationUnreadable(this ILogger logger, string modelName, string modelVersion, string reason);

    [LoggerMessage(5003, LogLevel.Warning, "Live profiling of model '{ModelName}' failed.")]
    public static partial void LiveProfileFailed(this ILogger logger, string modelName, Exception exception);

    [LoggerMessage(5004, LogLevel.Information, "Prometheus metrics at {Address}metrics.")]
    public static partial void MetricsListening(this ILogger logger, Uri address);
}
