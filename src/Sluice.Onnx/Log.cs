using Microsoft.Extensions.Logging;

namespace Sluice.Onnx;

internal static partial class Log
{
    [LoggerMessage(EventIds.RunnerCreated, LogLevel.Information,
        "Loaded ONNX Runtime session for model '{ModelName}' instance {InstanceIndex} on {ExecutionProvider} (device {DeviceId}) in {DurationMs:F1} ms.")]
    public static partial void RunnerCreated(this ILogger logger, string modelName, int instanceIndex, string executionProvider, int deviceId, double durationMs);

    [LoggerMessage(EventIds.RunnerLoadFailed, LogLevel.Warning,
        "Could not load model '{ModelName}' instance {InstanceIndex} on {ExecutionProvider}: {Reason}")]
    public static partial void RunnerLoadFailed(this ILogger logger, string modelName, int instanceIndex, string executionProvider, string reason);

    [LoggerMessage(EventIds.RunnerDisposed, LogLevel.Debug,
        "Released ONNX Runtime session for model '{ModelName}' instance {InstanceIndex}.")]
    public static partial void RunnerDisposed(this ILogger logger, string modelName, int instanceIndex);

    [LoggerMessage(EventIds.SignatureRead, LogLevel.Debug,
        "Read signature of '{ModelFile}': {InputCount} inputs, {OutputCount} outputs.")]
    public static partial void SignatureRead(this ILogger logger, string modelFile, int inputCount, int outputCount);
}
