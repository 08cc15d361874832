using Microsoft.Extensions.Logging;

namespace Sluice.Engine;

/// <summary>Event ids of the engine's log messages, one block per capability (repository 1000s, batching 2000s).</summary>
internal static class EventIds
{
    public const int ModelVersionLoading = 1000;
    public const int ModelVersionLoaded = 1001;
    public const int ModelVersionLoadFailed = 1002;
    public const int ModelVersionUnloading = 1003;
    public const int ModelVersionUnloaded = 1004;
    public const int RepositoryScanFailed = 1005;
    public const int DemoModelWritten = 1006;
    public const int ModelSkipped = 1007;
    public const int DrainTimedOut = 1008;
    public const int EngineHardwareMismatchAllowed = 1009;

    public const int BatchExecuted = 2000;
    public const int BatchFailed = 2001;
    public const int RequestTimedOut = 2002;
    public const int QueueFull = 2003;
    public const int LoopFaulted = 2004;
    public const int QueueWaitTooLong = 2005;
}

/// <summary>The engine's source-generated log messages.</summary>
internal static partial class Log
{
    [LoggerMessage(EventIds.ModelVersionLoading, LogLevel.Information, "Loading model '{ModelName}' version {ModelVersion}.")]
    public static partial void ModelVersionLoading(this ILogger logger, string modelName, long modelVersion);

    [LoggerMessage(EventIds.EngineHardwareMismatchAllowed, LogLevel.Warning,
        "Model '{ModelName}' version {ModelVersion}: loading an engine built for other hardware ({Differences}) because --allow-hardware-mismatch is set.")]
    public static partial void EngineHardwareMismatchAllowed(this ILogger logger, string modelName, long modelVersion, string differences);

    [LoggerMessage(EventIds.ModelVersionLoaded, LogLevel.Information,
        "Loaded model '{ModelName}' version {ModelVersion}: {InstanceCount} instance(s), max batch size {MaxBatchSize}, dynamic batching {Batching}, in {DurationMs:F0} ms.")]
    public static partial void ModelVersionLoaded(this ILogger logger, string modelName, long modelVersion, int instanceCount, int maxBatchSize, bool batching, double durationMs);

    [LoggerMessage(EventIds.ModelVersionLoadFailed, LogLevel.Error, "Failed to load model '{ModelName}' version {ModelVersion}: {Reason}")]
    public static partial void ModelVersionLoadFailed(this ILogger logger, string modelName, string modelVersion, string reason, Exception? exception);

    [LoggerMessage(EventIds.ModelVersionUnloading, LogLevel.Information, "Unloading model '{ModelName}' version {ModelVersion} after its in-flight requests finish.")]
    public static partial void ModelVersionUnloading(this ILogger logger, string modelName, long modelVersion);

    [LoggerMessage(EventIds.ModelVersionUnloaded, LogLevel.Information, "Unloaded model '{ModelName}' version {ModelVersion}.")]
    public static partial void ModelVersionUnloaded(this ILogger logger, string modelName, long modelVersion);

    [LoggerMessage(EventIds.RepositoryScanFailed, LogLevel.Error, "Scanning the model repository failed.")]
    public static partial void RepositoryScanFailed(this ILogger logger, Exception exception);

    [LoggerMessage(EventIds.DemoModelWritten, LogLevel.Information, "Wrote the demo model '{ModelName}' to the empty repository {RepositoryPath}.")]
    public static partial void DemoModelWritten(this ILogger logger, string modelName, string repositoryPath);

    [LoggerMessage(EventIds.ModelSkipped, LogLevel.Warning, "Skipped repository entry: {Reason}")]
    public static partial void ModelSkipped(this ILogger logger, string reason);

    [LoggerMessage(EventIds.DrainTimedOut, LogLevel.Warning,
        "Model '{ModelName}' version {ModelVersion} still had requests after the drain timeout of {TimeoutSeconds:F0} s; they were aborted.")]
    public static partial void DrainTimedOut(this ILogger logger, string modelName, long modelVersion, double timeoutSeconds);

    [LoggerMessage(EventIds.BatchExecuted, LogLevel.Debug, "Ran batch of {BatchSize} for model '{ModelName}' in {DurationMs:F1} ms.")]
    public static partial void BatchExecuted(this ILogger logger, string modelName, int batchSize, double durationMs);

    [LoggerMessage(EventIds.BatchFailed, LogLevel.Error, "A batch of {BatchSize} for model '{ModelName}' version {ModelVersion} failed.")]
    public static partial void BatchFailed(this ILogger logger, string modelName, string modelVersion, int batchSize, Exception exception);

    [LoggerMessage(EventIds.RequestTimedOut, LogLevel.Debug, "A request for model '{ModelName}' waited past its queue timeout of {TimeoutMs:F0} ms.")]
    public static partial void RequestTimedOut(this ILogger logger, string modelName, double timeoutMs);

    [LoggerMessage(EventIds.QueueFull, LogLevel.Debug, "The queue of model '{ModelName}' version {ModelVersion} is full ({MaxQueueSize} requests).")]
    public static partial void QueueFull(this ILogger logger, string modelName, string modelVersion, int maxQueueSize);

    [LoggerMessage(EventIds.QueueWaitTooLong, LogLevel.Debug,
        "A request for model '{ModelName}' version {ModelVersion} was refused: the queue holds about {ExpectedMs:F0} ms of work, more than its {TimeoutMs:F0} ms timeout.")]
    public static partial void QueueWaitTooLong(this ILogger logger, string modelName, string modelVersion, double expectedMs, double timeoutMs);

    [LoggerMessage(EventIds.LoopFaulted, LogLevel.Critical, "The batching loop of model '{ModelName}' version {ModelVersion} failed.")]
    public static partial void LoopFaulted(this ILogger logger, string modelName, string modelVersion, Exception exception);
}
