using System.Text.Json.Serialization;
using Sluice.Core.Configuration;
using Sluice.Core.Serving;
using Sluice.Core.Tensors;

namespace Sluice.Server.Http;

/// <summary>The <c>{"error": "..."}</c> body of every failure.</summary>
internal sealed record ErrorBody(string Error);

/// <summary>KServe v2 server metadata (<c>GET /v2</c>).</summary>
internal sealed record ServerMetadataBody(string Name, string Version, IReadOnlyList<string> Extensions);

/// <summary>KServe v2 model metadata.</summary>
internal sealed record ModelMetadataBody(string Name, IReadOnlyList<string> Versions, string Platform, IReadOnlyList<TensorMetadataBody> Inputs, IReadOnlyList<TensorMetadataBody> Outputs);

internal sealed record TensorMetadataBody(string Name, string Datatype, long[] Shape);

/// <summary>A row of Triton's repository index.</summary>
internal sealed record RepositoryIndexBody(string Name, string Version, string State, string Reason);

/// <summary>Triton's statistics response.</summary>
internal sealed record StatisticsBody(IReadOnlyList<ModelStatisticsBody> ModelStats);

internal sealed record ModelStatisticsBody(
    string Name, string Version, long LastInference, long InferenceCount, long ExecutionCount,
    InferStatisticsBody InferenceStats, IReadOnlyList<BatchStatisticsBody> BatchStats);

internal sealed record DurationBody(long Count, long Ns);

internal sealed record InferStatisticsBody(
    DurationBody Success, DurationBody Fail, DurationBody Queue, DurationBody ComputeInput, DurationBody ComputeInfer,
    DurationBody ComputeOutput, DurationBody CacheHit, DurationBody CacheMiss);

internal sealed record BatchStatisticsBody(long BatchSize, DurationBody ComputeInput, DurationBody ComputeInfer, DurationBody ComputeOutput);

/// <summary>Triton's model configuration as JSON (<c>GET .../config</c>); int64 fields are numbers, as Triton writes them.</summary>
internal sealed record ModelConfigBody
{
    public required string Name { get; init; }
    public required string Platform { get; init; }
    public required string Backend { get; init; }
    public required int MaxBatchSize { get; init; }
    public required IReadOnlyList<ModelTensorBody> Input { get; init; }
    public required IReadOnlyList<ModelTensorBody> Output { get; init; }
    public DynamicBatchingBody? DynamicBatching { get; init; }
    public required IReadOnlyList<InstanceGroupBody> InstanceGroup { get; init; }
    public required VersionPolicyBody VersionPolicy { get; init; }
    public required string DefaultModelFilename { get; init; }
    public required OptimizationBody Optimization { get; init; }
    public required IReadOnlyList<WarmupBody> ModelWarmup { get; init; }
}

/// <summary>One <c>model_warmup</c> sample as Triton writes it: inputs keyed by name, each with <c>zero_data</c> or <c>random_data</c>.</summary>
internal sealed record WarmupBody(string Name, int BatchSize, IReadOnlyDictionary<string, WarmupInputBody> Inputs, int Count);

internal sealed record WarmupInputBody(string DataType, long[] Dims, bool? ZeroData, bool? RandomData);

internal sealed record ModelTensorBody(string Name, string DataType, long[] Dims);

internal sealed record DynamicBatchingBody(IReadOnlyList<int> PreferredBatchSize, long MaxQueueDelayMicroseconds, QueuePolicyBody DefaultQueuePolicy);

internal sealed record QueuePolicyBody(string TimeoutAction, long DefaultTimeoutMicroseconds, bool AllowTimeoutOverride, int MaxQueueSize);

internal sealed record InstanceGroupBody(string Name, string Kind, int Count, IReadOnlyList<int> Gpus);

internal sealed record VersionPolicyBody
{
    public LatestPolicyBody? Latest { get; init; }
    public AllPolicyBody? All { get; init; }
    public SpecificPolicyBody? Specific { get; init; }
}

internal sealed record LatestPolicyBody(int NumVersions);

internal sealed record AllPolicyBody;

internal sealed record SpecificPolicyBody(IReadOnlyList<long> Versions);

internal sealed record OptimizationBody(string GraphLevel, int IntraOpThreadCount, int InterOpThreadCount, string? ExecutionAccelerator, IReadOnlyDictionary<string, string> AcceleratorParameters);

/// <summary>Source-generated serialization of the KServe v2 / Triton JSON bodies (snake_case, nulls omitted).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(ServerMetadataBody))]
[JsonSerializable(typeof(ModelMetadataBody))]
[JsonSerializable(typeof(IReadOnlyList<RepositoryIndexBody>))]
[JsonSerializable(typeof(StatisticsBody))]
[JsonSerializable(typeof(ModelConfigBody))]
internal sealed partial class KServeJsonContext : JsonSerializerContext;

/// <summary>Maps the engine's contract types to their wire bodies.</summary>
internal static class KServeBodies
{
    public static ModelMetadataBody ToBody(this ModelMetadata metadata) => new(
        metadata.Name,
        metadata.Versions,
        metadata.Platform,
        [.. metadata.Inputs.Select(static t => new TensorMetadataBody(t.Name, t.Datatype, t.Shape))],
        [.. metadata.Outputs.Select(static t => new TensorMetadataBody(t.Name, t.Datatype, t.Shape))]);

    public static StatisticsBody ToBody(this IReadOnlyList<ModelStatistics> statistics) =>
        new([.. statistics.Select(static s => new ModelStatisticsBody(
            s.Name, s.Version, s.LastInference, s.InferenceCount, s.ExecutionCount,
            new InferStatisticsBody(
                D(s.InferenceStats.Success), D(s.InferenceStats.Fail), D(s.InferenceStats.Queue), D(s.InferenceStats.ComputeInput),
                D(s.InferenceStats.ComputeInfer), D(s.InferenceStats.ComputeOutput), D(s.InferenceStats.CacheHit), D(s.InferenceStats.CacheMiss)),
            [.. s.BatchStats.Select(static b => new BatchStatisticsBody(b.BatchSize, D(b.ComputeInput), D(b.ComputeInfer), D(b.ComputeOutput)))]))]);

    private static DurationBody D(StatisticDuration duration) => new(duration.Count, duration.Ns);

    public static ModelConfigBody ToBody(this ModelConfig config) => new()
    {
        Name = config.Name,
        Platform = config.Backend == "onnxruntime" ? "onnxruntime_onnx" : config.Backend,
        Backend = config.Backend,
        MaxBatchSize = config.MaxBatchSize,
        Input = [.. config.Inputs.Select(ToBody)],
        Output = [.. config.Outputs.Select(ToBody)],
        DynamicBatching = config.DynamicBatching is { } batching
            ? new DynamicBatchingBody(
                batching.PreferredBatchSizes,
                Microseconds(batching.MaxQueueDelay),
                new QueuePolicyBody(
                    batching.DefaultQueuePolicy.TimeoutAction,
                    Microseconds(batching.DefaultQueuePolicy.DefaultTimeout),
                    batching.DefaultQueuePolicy.AllowTimeoutOverride,
                    batching.DefaultQueuePolicy.MaxQueueSize))
            : null,
        InstanceGroup = [.. config.InstanceGroups.Select((g, i) => new InstanceGroupBody(
            $"{config.Name}_{i}", g.Kind == InstanceKind.Gpu ? "KIND_GPU" : "KIND_CPU", g.Count, g.Gpus))],
        VersionPolicy = config.VersionPolicy.Kind switch
        {
            VersionPolicyKind.All => new VersionPolicyBody { All = new AllPolicyBody() },
            VersionPolicyKind.Specific => new VersionPolicyBody { Specific = new SpecificPolicyBody(config.VersionPolicy.Versions) },
            _ => new VersionPolicyBody { Latest = new LatestPolicyBody(config.VersionPolicy.LatestCount) },
        },
        DefaultModelFilename = config.DefaultModelFilename,
        Optimization = new OptimizationBody(
            config.Execution.GraphOptimizationLevel,
            config.Execution.IntraOpThreads,
            config.Execution.InterOpThreads,
            config.Execution.ExecutionProvider,
            config.Execution.ProviderOptions),
        ModelWarmup = [.. config.ModelWarmup.Select(static w => new WarmupBody(
            w.Name,
            w.BatchSize,
            w.Inputs.ToDictionary(
                static i => i.Name,
                static i => new WarmupInputBody(i.DataType.ToTritonConfigName(), i.Dims, i.RandomData ? null : true, i.RandomData ? true : null),
                StringComparer.Ordinal),
            w.Count))],
    };

    private static ModelTensorBody ToBody(TensorConfig tensor) => new(tensor.Name, tensor.DataType.ToTritonConfigName(), tensor.Dims);

    private static long Microseconds(TimeSpan span) => span.Ticks / TimeSpan.TicksPerMicrosecond;
}
