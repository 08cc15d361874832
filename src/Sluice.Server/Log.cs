using Microsoft.Extensions.Logging;

namespace Sluice.Server;

/// <summary>Event IDs of the server, one block per capability (HTTP protocol 5000s, hosting 5100s).</summary>
internal static class EventIds
{
    public const int RequestRejected = 5000;
    public const int RequestCanceled = 5001;
    public const int UnhandledException = 5002;
    public const int ManagementDenied = 5003;
    public const int InferDecoded = 5004;
    public const int ServerListening = 5100;
    public const int DrainStarted = 5101;
    public const int DrainCompleted = 5102;
    public const int DrainTimedOut = 5103;
}

internal static partial class Log
{
    [LoggerMessage(EventIds.RequestRejected, LogLevel.Debug, "Rejected {Method} {Path} with {StatusCode}: {Reason}")]
    public static partial void RequestRejected(this ILogger logger, string method, string path, int statusCode, string reason);

    [LoggerMessage(EventIds.RequestCanceled, LogLevel.Debug, "Client canceled {Method} {Path}.")]
    public static partial void RequestCanceled(this ILogger logger, string method, string path);

    [LoggerMessage(EventIds.InferDecoded, LogLevel.Debug, "Decoded infer request for model '{ModelName}' ({InputCount} inputs, {BodyBytes} bytes); handing it to the engine.")]
    public static partial void InferDecoded(this ILogger logger, string modelName, int inputCount, int bodyBytes);

    [LoggerMessage(EventIds.UnhandledException, LogLevel.Error, "Unhandled exception serving {Method} {Path}; answered 500.")]
    public static partial void UnhandledException(this ILogger logger, string method, string path, Exception exception);

    [LoggerMessage(EventIds.ManagementDenied, LogLevel.Warning, "Refused management call {Path} from {RemoteAddress}: {Reason}")]
    public static partial void ManagementDenied(this ILogger logger, string path, string? remoteAddress, string reason);

    [LoggerMessage(EventIds.ServerListening, LogLevel.Information,
        "Sluice is serving models from {RepositoryPath} (control mode {ControlMode}, device {Device}): KServe v2 HTTP on {HttpAddress}, gRPC on {GrpcAddress}; thread-pool spin limit {SpinLimit}.")]
    public static partial void ServerListening(this ILogger logger, string repositoryPath, string controlMode, string device, string httpAddress, string grpcAddress, string spinLimit);

    [LoggerMessage(EventIds.DrainStarted, LogLevel.Information,
        "Shutting down: readiness is now false, new requests get 503; waiting up to {DrainTimeoutSeconds:F0} s for {InFlight} in-flight request(s).")]
    public static partial void DrainStarted(this ILogger logger, double drainTimeoutSeconds, long inFlight);

    [LoggerMessage(EventIds.DrainCompleted, LogLevel.Information, "All in-flight requests finished; stopping.")]
    public static partial void DrainCompleted(this ILogger logger);

    [LoggerMessage(EventIds.DrainTimedOut, LogLevel.Warning, "Drain timeout passed with {InFlight} request(s) still in flight; stopping anyway.")]
    public static partial void DrainTimedOut(this ILogger logger, long inFlight);
}
