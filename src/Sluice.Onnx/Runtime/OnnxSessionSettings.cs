using Microsoft.ML.OnnxRuntime;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;

namespace Sluice.Onnx.Runtime;

/// <summary>ONNX Runtime's execution providers as Sluice names them in configs and on the command line.</summary>
public enum OnnxExecutionProvider
{
    /// <summary>The default CPU provider.</summary>
    Cpu,
    /// <summary>NVIDIA CUDA (GPU package only).</summary>
    Cuda,
    /// <summary>NVIDIA TensorRT, with CUDA as fallback for nodes TensorRT does not take (GPU package only).</summary>
    TensorRt,
}

/// <summary>
/// Validated session settings for one runner: what <see cref="ExecutionConfig"/> and <see cref="RunnerPlacement"/> ask
/// for, checked before any native object exists so a bad config never leaks one.
/// </summary>
internal sealed record OnnxSessionSettings(
    OnnxExecutionProvider Provider,
    int DeviceId,
    int IntraOpThreads,
    int InterOpThreads,
    GraphOptimizationLevel OptimizationLevel,
    IReadOnlyDictionary<string, string> ProviderOptions)
{
    public const string CpuProviderName = "CPUExecutionProvider";
    public const string CudaProviderName = "CUDAExecutionProvider";
    public const string TensorRtProviderName = "TensorrtExecutionProvider";

    /// <summary>Sluice's own provider option: <c>1</c> runs through IOBinding with per-shape reused buffers (default on for cuda), <c>0</c> does not.</summary>
    public const string IoBindingOption = "sluice_io_binding";

    /// <summary>Options whose key starts with this go to ONNX Runtime's session config (AddSessionConfigEntry), not to the provider.</summary>
    public const string SessionConfigPrefix = "session.";

    /// <summary>Sluice's own provider option: how many shape buckets (each with its own buffers) a runner keeps; default 16.</summary>
    public const string MaxShapeBucketsOption = "sluice_max_shape_buckets";

    /// <summary>Sluice's own provider option: fixes named free dimensions, <c>batch=32,seq=128</c> (for fixed-shape CUDA graphs).</summary>
    public const string FreeDimensionsOption = "sluice_free_dimensions";

    /// <summary>ONNX Runtime's CUDA provider option that captures one CUDA graph per shape bucket and replays it.</summary>
    public const string CudaGraphOption = "enable_cuda_graph";

    /// <summary>
    /// Runs go through <see cref="DeviceBindingRunner"/>: IOBinding over buffers kept per shape bucket (device buffers and
    /// pinned staging on cuda). On by default for cuda; on cpu only when <see cref="IoBindingOption"/> asks for it.
    /// </summary>
    public bool UseIoBinding { get; init; }

    /// <summary>A CUDA graph is captured per shape bucket (<see cref="CudaGraphOption"/> = 1 on cuda).</summary>
    public bool CudaGraph { get; init; }

    /// <summary>At most this many shape buckets are kept per runner; the least recently used is released beyond it.</summary>
    public int MaxShapeBuckets { get; init; } = 16;

    /// <summary>Free dimensions fixed by name before the session is created (<see cref="FreeDimensionsOption"/>).</summary>
    public IReadOnlyList<KeyValuePair<string, long>> FreeDimensions { get; init; } = [];

    /// <summary>
    /// Validates <paramref name="execution"/> and <paramref name="placement"/>. The placement's provider wins over the
    /// config's (the engine resolved it from the config and <c>--device</c>); the placement's device id wins over a
    /// <c>device_id</c> provider option, because instance groups decide which GPU each instance uses.
    /// </summary>
    /// <exception cref="InferenceException"><see cref="InferenceError.LoadFailed"/> naming the offending field.</exception>
    public static OnnxSessionSettings From(ExecutionConfig execution, RunnerPlacement placement)
    {
        ArgumentNullException.ThrowIfNull(execution);
        ArgumentNullException.ThrowIfNull(placement);
        var providerName = string.IsNullOrWhiteSpace(placement.ExecutionProvider) ? execution.ExecutionProvider : placement.ExecutionProvider;
        var provider = ParseProvider(providerName);
        var level = ParseOptimizationLevel(execution.GraphOptimizationLevel);
        if (execution.IntraOpThreads < 0)
        {
            throw LoadFailed($"execution.intra_op_threads must be 0 (ONNX Runtime decides) or positive, got {execution.IntraOpThreads}.");
        }

        if (execution.InterOpThreads < 0)
        {
            throw LoadFailed($"execution.inter_op_threads must be 0 (ONNX Runtime decides) or positive, got {execution.InterOpThreads}.");
        }

        if (placement.DeviceId < 0)
        {
            throw LoadFailed($"instance_group gpus must be non-negative GPU ordinals, got {placement.DeviceId}.");
        }

        var ortOptions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in execution.ProviderOptions)
        {
            if (!key.StartsWith("sluice_", StringComparison.Ordinal))
            {
                ortOptions[key] = value;   // Sluice's own keys never reach ONNX Runtime, which rejects unknown ones
            }
        }

        var useIoBinding = ParseFlag(execution.ProviderOptions, IoBindingOption, provider == OnnxExecutionProvider.Cuda);
        var cudaGraph = provider == OnnxExecutionProvider.Cuda && ParseFlag(execution.ProviderOptions, CudaGraphOption, false);
        if (cudaGraph && !useIoBinding)
        {
            throw LoadFailed($"execution.provider_options.{CudaGraphOption} needs {IoBindingOption} (CUDA graphs replay over fixed device buffers).");
        }

        var maxBuckets = 16;
        if (execution.ProviderOptions.TryGetValue(MaxShapeBucketsOption, out var bucketsText)
            && (!int.TryParse(bucketsText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out maxBuckets)
                || maxBuckets < 1 || maxBuckets > 1024))
        {
            throw LoadFailed($"execution.provider_options.{MaxShapeBucketsOption} must be an integer from 1 to 1024, got '{bucketsText}'.");
        }

        var freeDimensions = new List<KeyValuePair<string, long>>();
        if (execution.ProviderOptions.TryGetValue(FreeDimensionsOption, out var dimsText))
        {
            foreach (var part in dimsText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = part.IndexOf('=');
                if (eq <= 0 || !long.TryParse(part.AsSpan(eq + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size)
                    || size < 1)
                {
                    throw LoadFailed($"execution.provider_options.{FreeDimensionsOption} must look like 'batch=32,seq=128', got '{dimsText}'.");
                }

                freeDimensions.Add(new KeyValuePair<string, long>(part[..eq].Trim(), size));
            }
        }

        return new OnnxSessionSettings(provider, placement.DeviceId, execution.IntraOpThreads, execution.InterOpThreads, level, ortOptions)
        {
            UseIoBinding = useIoBinding,
            CudaGraph = cudaGraph,
            MaxShapeBuckets = maxBuckets,
            FreeDimensions = freeDimensions,
        };
    }

    private static bool ParseFlag(IReadOnlyDictionary<string, string> options, string key, bool fallback)
    {
        if (!options.TryGetValue(key, out var text))
        {
            return fallback;
        }

        return text.Trim().ToLowerInvariant() switch
        {
            "1" or "true" => true,
            "0" or "false" => false,
            _ => throw LoadFailed($"execution.provider_options.{key} must be 0 or 1, got '{text}'."),
        };
    }

    /// <summary>Parses <c>cpu</c>, <c>cuda</c> or <c>tensorrt</c> (any case); null or empty is <c>cpu</c>.</summary>
    public static OnnxExecutionProvider ParseProvider(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null or "" or "cpu" => OnnxExecutionProvider.Cpu,
        "cuda" or "gpu" => OnnxExecutionProvider.Cuda,
        "tensorrt" or "trt" => OnnxExecutionProvider.TensorRt,
        _ => throw LoadFailed($"execution.execution_provider '{name}' is not one of cpu, cuda, tensorrt."),
    };

    /// <summary>Parses <c>disabled</c>, <c>basic</c>, <c>extended</c> or <c>all</c> (any case); null or empty is <c>all</c>.</summary>
    public static GraphOptimizationLevel ParseOptimizationLevel(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null or "" or "all" => GraphOptimizationLevel.ORT_ENABLE_ALL,
        "disabled" or "disable" or "none" => GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic" => GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended" => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        _ => throw LoadFailed($"execution.graph_optimization_level '{name}' is not one of disabled, basic, extended, all."),
    };

    /// <summary>The provider's name in configs and logs.</summary>
    public string ProviderDisplayName => Provider switch
    {
        OnnxExecutionProvider.Cuda => "cuda",
        OnnxExecutionProvider.TensorRt => "tensorrt",
        _ => "cpu",
    };

    /// <summary>
    /// Creates the native session options. Checks first that the provider is in this build of ONNX Runtime, and releases
    /// everything it created when a step fails.
    /// </summary>
    /// <exception cref="InferenceException"><see cref="InferenceError.LoadFailed"/> saying what is missing.</exception>
    public SessionOptions CreateSessionOptions()
    {
        EnsureProviderAvailable();
        var options = new SessionOptions();
        try
        {
            options.GraphOptimizationLevel = OptimizationLevel;
            if (IntraOpThreads > 0)
            {
                options.IntraOpNumThreads = IntraOpThreads;
            }

            if (InterOpThreads > 0)
            {
                options.InterOpNumThreads = InterOpThreads;
                if (InterOpThreads > 1)
                {
                    options.ExecutionMode = ExecutionMode.ORT_PARALLEL;   // inter-op threads only matter in parallel mode
                }
            }

            foreach (var (name, size) in FreeDimensions)
            {
                options.AddFreeDimensionOverrideByName(name, size);
            }

            // Keys in ONNX Runtime's session-config namespace (e.g. session.intra_op.allow_spinning) are session settings,
            // not provider options.
            foreach (var (key, value) in ProviderOptions)
            {
                if (key.StartsWith(SessionConfigPrefix, StringComparison.Ordinal))
                {
                    options.AddSessionConfigEntry(key, value);
                }
            }

            switch (Provider)
            {
                case OnnxExecutionProvider.TensorRt:
                    AppendTensorRt(options);
                    AppendCuda(options);   // nodes TensorRT does not take fall back to CUDA, then CPU
                    break;
                case OnnxExecutionProvider.Cuda:
                    AppendCuda(options);
                    break;
            }

            return options;
        }
        catch (OnnxRuntimeException e)
        {
            options.Dispose();
            throw LoadFailed($"The {ProviderDisplayName} execution provider could not be initialised on device {DeviceId}: {OnnxErrors.Describe(e)}", e);
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    private void EnsureProviderAvailable()
    {
        var required = Provider switch
        {
            OnnxExecutionProvider.Cuda => (Name: CudaProviderName, Display: "CUDA"),
            OnnxExecutionProvider.TensorRt => (Name: TensorRtProviderName, Display: "TensorRT"),
            _ => (Name: CpuProviderName, Display: "CPU"),
        };
        if (Provider == OnnxExecutionProvider.Cpu || OnnxRuntimeInfo.AvailableProviders.Contains(required.Name))
        {
            return;
        }

        var requirement = Provider == OnnxExecutionProvider.TensorRt ? "CUDA 13 / cuDNN 9 and TensorRT 10" : "CUDA 13 / cuDNN 9";
        throw LoadFailed(OnnxRuntimeInfo.IsGpuBuild
            ? $"{required.Display} execution provider is not available in this build of ONNX Runtime (available: {string.Join(", ", OnnxRuntimeInfo.AvailableProviders)}); it needs {requirement}."
            : $"{required.Display} execution provider is not available in this build of ONNX Runtime (CPU-only package); build with -p:SluiceGpu=true on a machine with {requirement}.");
    }

    private void AppendCuda(SessionOptions options)
    {
        using var cuda = new OrtCUDAProviderOptions();
        cuda.UpdateOptions(ProviderOptionsWithDevice());
        options.AppendExecutionProvider_CUDA(cuda);   // the session options keep their own copy
    }

    private void AppendTensorRt(SessionOptions options)
    {
        using var tensorRt = new OrtTensorRTProviderOptions();
        tensorRt.UpdateOptions(ProviderOptionsWithDevice());
        options.AppendExecutionProvider_Tensorrt(tensorRt);
    }

    private Dictionary<string, string> ProviderOptionsWithDevice()
    {
        var values = ProviderOptions
            .Where(static option => !option.Key.StartsWith(SessionConfigPrefix, StringComparison.Ordinal))
            .ToDictionary(static option => option.Key, static option => option.Value, StringComparer.Ordinal);
        values["device_id"] = DeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return values;
    }

    private static InferenceException LoadFailed(string message, Exception? inner = null) =>
        new(InferenceError.LoadFailed, message, inner);
}
