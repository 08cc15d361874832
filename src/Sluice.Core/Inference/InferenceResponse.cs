using Sluice.Core.Tensors;

namespace Sluice.Core.Inference;

/// <summary>The result of one request: its outputs, and the timestamps of its passage.</summary>
public sealed class InferenceResponse
{
    /// <summary>The model that ran.</summary>
    public required string ModelName { get; init; }

    /// <summary>The version that ran (always concrete).</summary>
    public required string ModelVersion { get; init; }

    /// <summary>The request's id, echoed.</summary>
    public string Id { get; init; } = "";

    /// <summary>The output tensors, in the order requested (or the model's order when all were requested).</summary>
    public required IReadOnlyList<TensorData> Outputs { get; init; }

    /// <summary>The request's phase timestamps (the same object as the request's).</summary>
    public required RequestTimestamps Timestamps { get; init; }
}
