using Sluice.Core.Tensors;

namespace Sluice.Core.Configuration;

/// <summary>
/// One model's configuration: what <c>config.yaml</c> or Triton's <c>config.pbtxt</c> says, completed from the model file where
/// fields are missing. Immutable; a reload builds a new one.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>The model's name; equals its folder name in the repository.</summary>
    public required string Name { get; init; }

    /// <summary>The backend that runs it; only <c>onnxruntime</c> today.</summary>
    public string Backend { get; init; } = "onnxruntime";

    /// <summary>Largest batch one execution takes. 0 means the model has no batch dimension and requests are never batched.</summary>
    public int MaxBatchSize { get; init; }

    /// <summary>The model's inputs. With <see cref="MaxBatchSize"/> &gt; 0, <see cref="TensorConfig.Dims"/> exclude the batch dimension (as in Triton).</summary>
    public IReadOnlyList<TensorConfig> Inputs { get; init; } = [];

    /// <summary>The model's outputs, with the same batch-dimension rule as <see cref="Inputs"/>.</summary>
    public IReadOnlyList<TensorConfig> Outputs { get; init; } = [];

    /// <summary>Dynamic batching settings; null turns batching off (each request runs alone).</summary>
    public DynamicBatchingConfig? DynamicBatching { get; init; }

    /// <summary>How many instances to run, and where.</summary>
    public IReadOnlyList<InstanceGroupConfig> InstanceGroups { get; init; } = [new InstanceGroupConfig()];

    /// <summary>Which versions of the model are served.</summary>
    public VersionPolicy VersionPolicy { get; init; } = VersionPolicy.Latest(1);

    /// <summary>ONNX Runtime session settings.</summary>
    public ExecutionConfig Execution { get; init; } = new();

    /// <summary>The model file name inside each version folder.</summary>
    public string DefaultModelFilename { get; init; } = "model.onnx";

    /// <summary>
    /// Triton's <c>model_warmup</c>: samples every instance runs before the version takes traffic (in place of the default
    /// single run on zeros), so shape buckets, CUDA graphs and kernel plans for the shapes traffic will bring exist first.
    /// </summary>
    public IReadOnlyList<WarmupSample> ModelWarmup { get; init; } = [];
}

/// <summary>One input or output as the configuration declares it.</summary>
/// <param name="Name">The tensor name in the model.</param>
/// <param name="DataType">The element type.</param>
/// <param name="Dims">The dimensions (excluding the batch dimension when the model batches); -1 for a variable dimension.</param>
public sealed record TensorConfig(string Name, DataType DataType, long[] Dims)
{
    /// <summary>True when the dimensions are equal element by element (records compare arrays by reference).</summary>
    public bool SameAs(TensorConfig other) =>
        Name == other.Name && DataType == other.DataType && Dims.AsSpan().SequenceEqual(other.Dims);
}

/// <summary>Triton's <c>dynamic_batching</c> block.</summary>
public sealed record DynamicBatchingConfig
{
    /// <summary>Batch sizes to run as soon as reached; each ≤ the model's max batch size.</summary>
    public IReadOnlyList<int> PreferredBatchSizes { get; init; } = [];

    /// <summary>Longest time the oldest queued request may wait for a fuller batch.</summary>
    public TimeSpan MaxQueueDelay { get; init; } = TimeSpan.FromMilliseconds(1);

    /// <summary>The queue's bounds and timeout.</summary>
    public QueuePolicyConfig DefaultQueuePolicy { get; init; } = new();
}

/// <summary>Triton's <c>default_queue_policy</c>: every queue is bounded.</summary>
public sealed record QueuePolicyConfig
{
    /// <summary>Most requests waiting in the queue; past it new requests get 503. Default 1024.</summary>
    public int MaxQueueSize { get; init; } = 1024;

    /// <summary>Longest a request may wait in the queue before it is rejected. Default 5 s.</summary>
    public TimeSpan DefaultTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether a client may set a shorter/longer timeout per request (<c>allow_timeout_override</c>).</summary>
    public bool AllowTimeoutOverride { get; init; } = true;

    /// <summary>What happens on timeout; only REJECT is supported.</summary>
    public string TimeoutAction { get; init; } = "REJECT";
}

/// <summary>Where instances run.</summary>
public enum InstanceKind
{
    /// <summary>On the CPU.</summary>
    Cpu,
    /// <summary>On a GPU (CUDA or TensorRT execution provider).</summary>
    Gpu,
}

/// <summary>Triton's <c>instance_group</c> entry.</summary>
public sealed record InstanceGroupConfig
{
    /// <summary>Instances in this group (on each listed GPU for GPU groups).</summary>
    public int Count { get; init; } = 1;

    /// <summary>CPU or GPU.</summary>
    public InstanceKind Kind { get; init; } = InstanceKind.Cpu;

    /// <summary>GPU ordinals for GPU groups; empty means GPU 0.</summary>
    public IReadOnlyList<int> Gpus { get; init; } = [];
}

/// <summary>Triton's <c>version_policy</c>: latest N, all, or specific versions.</summary>
public sealed record VersionPolicy
{
    private VersionPolicy(VersionPolicyKind kind, int latestCount, IReadOnlyList<long> versions)
    {
        Kind = kind;
        LatestCount = latestCount;
        Versions = versions;
    }

    /// <summary>Which of the three forms this is.</summary>
    public VersionPolicyKind Kind { get; }

    /// <summary>For <see cref="VersionPolicyKind.Latest"/>: how many of the highest versions.</summary>
    public int LatestCount { get; }

    /// <summary>For <see cref="VersionPolicyKind.Specific"/>: the versions.</summary>
    public IReadOnlyList<long> Versions { get; }

    public static VersionPolicy Latest(int count) => new(VersionPolicyKind.Latest, count, []);
    public static VersionPolicy All { get; } = new(VersionPolicyKind.All, 0, []);
    public static VersionPolicy Specific(IReadOnlyList<long> versions) => new(VersionPolicyKind.Specific, 0, versions);

    /// <summary>Picks the versions to serve from those present on disk.</summary>
    public IReadOnlyList<long> Select(IEnumerable<long> available)
    {
        var sorted = available.Distinct().OrderByDescending(v => v).ToList();
        return Kind switch
        {
            VersionPolicyKind.All => sorted,
            VersionPolicyKind.Latest => sorted.Take(LatestCount).ToList(),
            VersionPolicyKind.Specific => sorted.Where(Versions.Contains).ToList(),
            _ => throw new InvalidOperationException(),
        };
    }
}

/// <summary>The three version policy forms.</summary>
public enum VersionPolicyKind
{
    /// <summary>The highest N versions.</summary>
    Latest,
    /// <summary>Every version present.</summary>
    All,
    /// <summary>Only the listed versions.</summary>
    Specific,
}

/// <summary>ONNX Runtime session settings for a model.</summary>
public sealed record ExecutionConfig
{
    /// <summary>Threads within one operator; 0 lets ONNX Runtime decide.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Threads across operators; 0 lets ONNX Runtime decide.</summary>
    public int InterOpThreads { get; init; }

    /// <summary>Graph optimization level: <c>disabled</c>, <c>basic</c>, <c>extended</c> or <c>all</c>.</summary>
    public string GraphOptimizationLevel { get; init; } = "all";

    /// <summary>Execution provider: <c>cpu</c>, <c>cuda</c> or <c>tensorrt</c>; null follows the server's <c>--device</c>.</summary>
    public string? ExecutionProvider { get; init; }

    /// <summary>Provider options passed through to ONNX Runtime (e.g. <c>device_id</c>, <c>trt_fp16_enable</c>).</summary>
    public IReadOnlyDictionary<string, string> ProviderOptions { get; init; } = new Dictionary<string, string>();
}

/// <summary>One <c>model_warmup</c> sample: a batch of <paramref name="BatchSize"/> built from <paramref name="Inputs"/>, run
/// <paramref name="Count"/> times on each instance.</summary>
/// <param name="Name">The sample's name, for logs.</param>
/// <param name="BatchSize">Rows in the batch (the batch dimension is added when the model batches).</param>
/// <param name="Count">How many times each instance runs it.</param>
/// <param name="Inputs">One entry per model input.</param>
public sealed record WarmupSample(string Name, int BatchSize, int Count, IReadOnlyList<WarmupInput> Inputs);

/// <summary>One input of a <see cref="WarmupSample"/>: zeros, or random values (floats in [0, 1), integers in [0, 100)).</summary>
/// <param name="Name">The model input.</param>
/// <param name="DataType">Its element type.</param>
/// <param name="Dims">Its dimensions without the batch dimension; all fixed.</param>
/// <param name="RandomData">Random values instead of zeros.</param>
public sealed record WarmupInput(string Name, DataType DataType, long[] Dims, bool RandomData);
