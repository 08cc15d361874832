using Sluice.Core.Tensors;

namespace Sluice.Core.Inference;

/// <summary>One inference request, protocol-neutral: what KServe v2 HTTP/JSON, HTTP/binary and gRPC all decode into.</summary>
public sealed class InferenceRequest
{
    /// <summary>The model to run.</summary>
    public required string ModelName { get; init; }

    /// <summary>A specific version, or null/empty for the model's current (highest ready) version.</summary>
    public string? ModelVersion { get; init; }

    /// <summary>The client's request id, echoed in the response; may be empty.</summary>
    public string Id { get; init; } = "";

    /// <summary>The input tensors, one per model input.</summary>
    public required IReadOnlyList<TensorData> Inputs { get; init; }

    /// <summary>Outputs the client asked for; null or empty means all of the model's outputs.</summary>
    public IReadOnlyList<RequestedOutput>? Outputs { get; init; }

    /// <summary>Per-request parameters (KServe <c>parameters</c>), e.g. <c>timeout</c> in microseconds, <c>priority</c>.</summary>
    public IReadOnlyDictionary<string, object?> Parameters { get; init; } = EmptyParameters;

    /// <summary>Phase timestamps, filled as the request moves along.</summary>
    public RequestTimestamps Timestamps { get; } = new();

    private static readonly IReadOnlyDictionary<string, object?> EmptyParameters = new Dictionary<string, object?>();
}

/// <summary>An output the client asked for, and how it wants it encoded.</summary>
/// <param name="Name">The output name.</param>
/// <param name="Binary">True to return the data in the binary tensor extension's body rather than in JSON.</param>
public sealed record RequestedOutput(string Name, bool Binary = false);
