using Sluice.Core.Configuration;
using Sluice.Core.Inference;

namespace Sluice.Core.Serving;

/// <summary>Runs inference requests: validates them against the model, queues them for the dynamic batcher, awaits the result.</summary>
public interface IInferenceService
{
    /// <summary>Runs one request. Throws <see cref="InferenceException"/> for every failure a client should see.</summary>
    ValueTask<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken);
}

/// <summary>The model repository as the protocols see it: readiness, metadata, config, index, load/unload, statistics.</summary>
public interface IModelRepositoryService
{
    /// <summary>True when a model exists and (the given or its current) version is loaded and accepting requests.</summary>
    bool IsModelReady(string name, string? version);

    /// <summary>Metadata of a ready model version. Throws <see cref="InferenceException"/> (ModelNotFound / ModelNotReady).</summary>
    ModelMetadata GetModelMetadata(string name, string? version);

    /// <summary>The effective (completed) configuration. Throws <see cref="InferenceException"/> (ModelNotFound).</summary>
    ModelConfig GetModelConfig(string name, string? version);

    /// <summary>Every model version the repository knows of, with its state and, for failures, the reason.</summary>
    IReadOnlyList<RepositoryIndexEntry> GetIndex(bool readyOnly);

    /// <summary>Loads (or reloads) a model from the repository. Throws <see cref="InferenceException"/> (ModelNotFound / LoadFailed).</summary>
    Task LoadModelAsync(string name, CancellationToken cancellationToken);

    /// <summary>Unloads every version of a model after draining its in-flight requests.</summary>
    Task UnloadModelAsync(string name, CancellationToken cancellationToken);

    /// <summary>Statistics of one model (version), or of all ready models when <paramref name="name"/> is null.</summary>
    IReadOnlyList<ModelStatistics> GetStatistics(string? name, string? version);
}

/// <summary>KServe v2 model metadata.</summary>
public sealed record ModelMetadata(
    string Name,
    IReadOnlyList<string> Versions,
    string Platform,
    IReadOnlyList<TensorMetadata> Inputs,
    IReadOnlyList<TensorMetadata> Outputs);

/// <summary>One tensor of <see cref="ModelMetadata"/>: shape in full, -1 for variable dimensions (the batch one included).</summary>
public sealed record TensorMetadata(string Name, string Datatype, long[] Shape);

/// <summary>One row of the repository index.</summary>
/// <param name="State"><c>READY</c>, <c>LOADING</c>, <c>UNLOADING</c> or <c>UNAVAILABLE</c>.</param>
/// <param name="Reason">Why a version is unavailable (load error), empty otherwise.</param>
public sealed record RepositoryIndexEntry(string Name, string Version, string State, string Reason);

/// <summary>A count and total duration, as Triton's <c>StatisticDuration</c>.</summary>
public readonly record struct StatisticDuration(long Count, long Ns);

/// <summary>Triton's <c>InferStatistics</c>.</summary>
public sealed record InferStatistics(
    StatisticDuration Success,
    StatisticDuration Fail,
    StatisticDuration Queue,
    StatisticDuration ComputeInput,
    StatisticDuration ComputeInfer,
    StatisticDuration ComputeOutput,
    StatisticDuration CacheHit,
    StatisticDuration CacheMiss);

/// <summary>Triton's <c>InferBatchStatistics</c>: compute time per executed batch size.</summary>
public sealed record BatchStatistics(long BatchSize, StatisticDuration ComputeInput, StatisticDuration ComputeInfer, StatisticDuration ComputeOutput);

/// <summary>Triton's <c>ModelStatistics</c>.</summary>
/// <param name="LastInference">Milliseconds since the Unix epoch of the last inference, 0 if none.</param>
/// <param name="InferenceCount">Inferences performed (batch rows), not counting failures.</param>
/// <param name="ExecutionCount">Model executions (batches).</param>
public sealed record ModelStatistics(
    string Name,
    string Version,
    long LastInference,
    long InferenceCount,
    long ExecutionCount,
    InferStatistics InferenceStats,
    IReadOnlyList<BatchStatistics> BatchStats);
