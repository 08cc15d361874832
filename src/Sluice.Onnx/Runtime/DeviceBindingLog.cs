using Microsoft.Extensions.Logging;

namespace Sluice.Onnx.Runtime;

/// <summary>Log messages of the IOBinding / CUDA path (event ids 3100-3199).</summary>
internal static partial class DeviceBindingLog
{
    [LoggerMessage(3100, LogLevel.Debug,
        "Model '{ModelName}' instance {InstanceIndex}: new shape bucket {Shapes} ({BucketCount} kept, CUDA graph id {GraphId}).")]
    public static partial void ShapeBucketCreated(this ILogger logger, string modelName, int instanceIndex, string shapes, int bucketCount, int graphId);

    [LoggerMessage(3101, LogLevel.Information,
        "Model '{ModelName}' instance {InstanceIndex} runs through IOBinding on {Memory} memory (CUDA graphs {CudaGraph}, up to {MaxBuckets} shape buckets).")]
    public static partial void DeviceBindingEnabled(this ILogger logger, string modelName, int instanceIndex, string memory, bool cudaGraph, int maxBuckets);
}
