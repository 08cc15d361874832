using System.Globalization;
using Sluice.Core.Configuration;
using Sluice.Core.Tensors;

namespace Sluice.Engine.Configuration;

/// <summary>A configuration as the file wrote it, before completion from the model: which parts were given, and their values.</summary>
/// <param name="Config">The values; defaults where the file said nothing.</param>
/// <param name="HasMaxBatchSize">The file set max_batch_size.</param>
/// <param name="HasDynamicBatching">The file had a dynamic_batching block.</param>
internal sealed record ParsedModelConfig(ModelConfig Config, bool HasMaxBatchSize, bool HasDynamicBatching);

/// <summary>
/// Turns a <see cref="ConfigMessage"/> (from either format) into a <see cref="ParsedModelConfig"/>, using Triton's field names.
/// Collects every error (with file, line, column and field) and throws them together. Unknown fields are ignored, so Triton
/// configs with fields we do not use (model_warmup, response_cache, ...) still load.
/// </summary>
internal sealed class ModelConfigMapper
{
    private readonly string _fileName;
    private readonly List<string> _errors = [];

    private ModelConfigMapper(string fileName) => _fileName = fileName;

    /// <summary>Maps a parsed document. Throws <see cref="ModelConfigException"/> listing every error.</summary>
    public static ParsedModelConfig Map(ConfigMessage root, string modelName, string fileName)
    {
        var mapper = new ModelConfigMapper(fileName);
        var result = mapper.MapRoot(root, modelName);
        if (mapper._errors.Count > 0)
        {
            throw new ModelConfigException(string.Join("; ", mapper._errors));
        }

        return result;
    }

    private ParsedModelConfig MapRoot(ConfigMessage root, string modelName)
    {
        var name = String(root, "name") ?? modelName;
        var backend = String(root, "backend");
        var platform = String(root, "platform");
        if (platform is not null && platform != "onnxruntime_onnx")
        {
            Error(root.Get("platform")!, "platform", $"only 'onnxruntime_onnx' is supported, got '{platform}'");
        }

        var maxBatchSize = Int(root, "max_batch_size") ?? 0;
        var hasDynamicBatching = root.Has("dynamic_batching");
        var config = new ModelConfig
        {
            Name = name,
            Backend = backend ?? "onnxruntime",
            MaxBatchSize = maxBatchSize,
            Inputs = Tensors(root, "input"),
            Outputs = Tensors(root, "output"),
            DynamicBatching = hasDynamicBatching ? DynamicBatching(root) : null,
            InstanceGroups = InstanceGroups(root),
            VersionPolicy = VersionPolicy(root),
            Execution = Execution(root),
            DefaultModelFilename = String(root, "default_model_filename") is { Length: > 0 } file ? file : "model.onnx",
            ModelWarmup = ModelWarmup(root),
        };
        return new ParsedModelConfig(config, root.Has("max_batch_size"), hasDynamicBatching);
    }

    private List<TensorConfig> Tensors(ConfigMessage root, string field)
    {
        var tensors = new List<TensorConfig>();
        var index = 0;
        foreach (var node in root.GetAll(field))
        {
            var path = $"{field}[{index++}]";
            if (node is not ConfigMessage message)
            {
                Error(node, path, $"expected a block, got {node.Describe()}");
                continue;
            }

            var name = String(message, "name", path);
            if (string.IsNullOrEmpty(name))
            {
                Error(message, path + ".name", "is required");
                continue;
            }

            var typeNode = message.Get("data_type");
            var type = DataType.Invalid;
            if (typeNode is null)
            {
                Error(message, $"{field} '{name}'.data_type", "is required");
            }
            else if (typeNode is not ConfigScalar typeScalar || !DataTypes.TryParse(typeScalar.Value, out type))
            {
                Error(typeNode, $"{field} '{name}'.data_type", $"unknown data type {typeNode.Describe()} (use e.g. TYPE_FP32 or FP32)");
            }

            var dims = new List<long>();
            foreach (var dim in message.GetAll("dims"))
            {
                if (ParseLong(dim, $"{field} '{name}'.dims") is { } value)
                {
                    dims.Add(value);
                }
            }

            tensors.Add(new TensorConfig(name, type, dims.ToArray()));
        }

        return tensors;
    }

    /// <summary>
    /// Triton's <c>model_warmup</c> list. Each sample: <c>name</c>, <c>batch_size</c> (default 1), <c>count</c> (default 1) and
    /// <c>inputs</c>, a map from input name to <c>{ data_type, dims, zero_data | random_data }</c> (pbtxt <c>key</c>/<c>value</c>
    /// entries or a YAML map). <c>input_data_file</c> is refused: the server reads no data files at load.
    /// </summary>
    private List<WarmupSample> ModelWarmup(ConfigMessage root)
    {
        var samples = new List<WarmupSample>();
        var index = 0;
        foreach (var node in root.GetAll("model_warmup"))
        {
            var path = $"model_warmup[{index++}]";
            if (node is not ConfigMessage sample)
            {
                Error(node, path, $"expected a block, got {node.Describe()}");
                continue;
            }

            var name = String(sample, "name", path + ".name") ?? path;
            var batchSize = Int(sample, "batch_size", path + ".batch_size") ?? 1;
            var count = Int(sample, "count", path + ".count") ?? 1;
            if (count < 1 || count > 1000)
            {
                Error(sample.Get("count")!, path + ".count", $"must be from 1 to 1000, got {count}");
            }

            var inputs = new List<WarmupInput>();
            foreach (var (inputName, value) in Parameters(sample, "inputs", path + ".inputs"))
            {
                var inputPath = $"{path}.inputs['{inputName}']";
                if (value is not ConfigMessage input)
                {
                    Error(value, inputPath, $"expected a block, got {value.Describe()}");
                    continue;
                }

                var type = DataType.Invalid;
                if (input.Get("data_type") is not ConfigScalar typeScalar || !DataTypes.TryParse(typeScalar.Value, out type))
                {
                    Error(input.Get("data_type") ?? input, inputPath + ".data_type", "is required: a data type such as TYPE_INT64 or FP32");
                }

                var dims = new List<long>();
                foreach (var dim in input.GetAll("dims"))
                {
                    if (ParseLong(dim, inputPath + ".dims") is { } d)
                    {
                        dims.Add(d);
                    }
                }

                if (input.Has("input_data_file"))
                {
                    Error(input.Get("input_data_file")!, inputPath + ".input_data_file", "is not supported; use zero_data: true or random_data: true");
                }

                var random = Bool(input, "random_data", inputPath + ".random_data") ?? false;
                inputs.Add(new WarmupInput(inputName, type, dims.ToArray(), random));
            }

            samples.Add(new WarmupSample(name, batchSize, Math.Clamp(count, 1, 1000), inputs));
        }

        return samples;
    }

    private DynamicBatchingConfig DynamicBatching(ConfigMessage root)
    {
        if (Block(root, "dynamic_batching") is not { } block)
        {
            return new DynamicBatchingConfig();
        }

        var preferred = new List<int>();
        foreach (var node in block.GetAll("preferred_batch_size"))
        {
            if (ParseLong(node, "dynamic_batching.preferred_batch_size") is { } value)
            {
                preferred.Add((int)Math.Clamp(value, int.MinValue, int.MaxValue));
            }
        }

        var delayUs = Long(block, "max_queue_delay_microseconds", "dynamic_batching.max_queue_delay_microseconds")
            ?? ModelConfigDefaults.MaxQueueDelayMicroseconds;
        return new DynamicBatchingConfig
        {
            PreferredBatchSizes = preferred,
            MaxQueueDelay = Microseconds(delayUs),
            DefaultQueuePolicy = QueuePolicy(block),
        };
    }

    private QueuePolicyConfig QueuePolicy(ConfigMessage batching)
    {
        if (Block(batching, "default_queue_policy", "dynamic_batching.default_queue_policy") is not { } policy)
        {
            return new QueuePolicyConfig();
        }

        const string path = "dynamic_batching.default_queue_policy";
        var maxQueueSize = Long(policy, "max_queue_size", path + ".max_queue_size");
        var timeoutUs = Long(policy, "default_timeout_microseconds", path + ".default_timeout_microseconds");
        return new QueuePolicyConfig
        {
            // Triton's 0 means "unbounded"; every queue here is bounded, so 0 takes the default bound instead.
            MaxQueueSize = maxQueueSize is null or 0 ? ModelConfigDefaults.MaxQueueSize : (int)Math.Clamp(maxQueueSize.Value, int.MinValue, int.MaxValue),
            DefaultTimeout = timeoutUs is null or 0 ? ModelConfigDefaults.QueueTimeout : Microseconds(timeoutUs.Value),
            AllowTimeoutOverride = Bool(policy, "allow_timeout_override", path + ".allow_timeout_override") ?? true,
            TimeoutAction = String(policy, "timeout_action", path + ".timeout_action") ?? "REJECT",
        };
    }

    private List<InstanceGroupConfig> InstanceGroups(ConfigMessage root)
    {
        var groups = new List<InstanceGroupConfig>();
        var index = 0;
        foreach (var node in root.GetAll("instance_group"))
        {
            var path = $"instance_group[{index++}]";
            if (node is not ConfigMessage group)
            {
                Error(node, path, $"expected a block, got {node.Describe()}");
                continue;
            }

            var kind = InstanceKind.Cpu;
            if (String(group, "kind", path + ".kind") is { } kindText)
            {
                switch (kindText.ToUpperInvariant())
                {
                    case "KIND_CPU" or "CPU" or "KIND_AUTO" or "AUTO": kind = InstanceKind.Cpu; break;   // AUTO: the server's --device decides
                    case "KIND_GPU" or "GPU": kind = InstanceKind.Gpu; break;
                    default: Error(group.Get("kind")!, path + ".kind", $"expected KIND_CPU or KIND_GPU, got '{kindText}'"); break;
                }
            }

            var gpus = new List<int>();
            foreach (var gpu in group.GetAll("gpus"))
            {
                if (ParseLong(gpu, path + ".gpus") is { } value)
                {
                    gpus.Add((int)Math.Clamp(value, int.MinValue, int.MaxValue));
                }
            }

            var count = Long(group, "count", path + ".count") ?? 1;
            groups.Add(new InstanceGroupConfig { Count = (int)Math.Clamp(count, int.MinValue, int.MaxValue), Kind = kind, Gpus = gpus });
        }

        return groups.Count == 0 ? [new InstanceGroupConfig()] : groups;
    }

    private VersionPolicy VersionPolicy(ConfigMessage root)
    {
        if (Block(root, "version_policy") is not { } policy)
        {
            return Core.Configuration.VersionPolicy.Latest(1);
        }

        if (policy.Has("all"))
        {
            return Core.Configuration.VersionPolicy.All;
        }

        if (policy.Has("specific"))
        {
            var versions = new List<long>();
            if (Block(policy, "specific", "version_policy.specific") is { } specific)
            {
                foreach (var node in specific.GetAll("versions"))
                {
                    if (ParseLong(node, "version_policy.specific.versions") is { } value)
                    {
                        versions.Add(value);
                    }
                }
            }

            return Core.Configuration.VersionPolicy.Specific(versions);
        }

        if (policy.Has("latest"))
        {
            var count = Block(policy, "latest", "version_policy.latest") is { } latest
                ? Long(latest, "num_versions", "version_policy.latest.num_versions") ?? 1
                : 1;
            return Core.Configuration.VersionPolicy.Latest((int)Math.Clamp(count, int.MinValue, int.MaxValue));
        }

        Error(policy, "version_policy", "expected one of latest { num_versions: N }, all { } or specific { versions: [...] }");
        return Core.Configuration.VersionPolicy.Latest(1);
    }

    private ExecutionConfig Execution(ConfigMessage root)
    {
        var intra = 0;
        var inter = 0;
        var level = "all";
        string? provider = null;
        var providerOptions = new Dictionary<string, string>(StringComparer.Ordinal);

        // Triton's onnxruntime backend parameters: parameters { key: "intra_op_thread_count" value { string_value: "2" } }
        foreach (var (key, valueNode) in Parameters(root, "parameters", "parameters"))
        {
            switch (key)
            {
                case "intra_op_thread_count":
                    intra = ParseInt(valueNode, "parameters.intra_op_thread_count") ?? intra;
                    break;
                case "inter_op_thread_count":
                    inter = ParseInt(valueNode, "parameters.inter_op_thread_count") ?? inter;
                    break;
            }
        }

        // Triton's optimization { graph { level } execution_accelerators { gpu_execution_accelerator [...] } }
        if (Block(root, "optimization") is { } optimization)
        {
            if (Block(optimization, "graph", "optimization.graph") is { } graph
                && Long(graph, "level", "optimization.graph.level") is { } graphLevel)
            {
                // Triton's onnxruntime backend: -1 basic, 1 extended, anything else all.
                level = graphLevel switch { -1 => "basic", 1 => "extended", _ => "all" };
            }

            if (Block(optimization, "execution_accelerators", "optimization.execution_accelerators") is { } accelerators)
            {
                var index = 0;
                foreach (var node in accelerators.GetAll("gpu_execution_accelerator"))
                {
                    var path = $"optimization.execution_accelerators.gpu_execution_accelerator[{index++}]";
                    if (node is not ConfigMessage accelerator)
                    {
                        Error(node, path, $"expected a block, got {node.Describe()}");
                        continue;
                    }

                    var name = String(accelerator, "name", path + ".name");
                    switch (name)
                    {
                        case "tensorrt" or "cuda":
                            provider ??= name;
                            break;
                        default:
                            Error(accelerator, path + ".name", $"expected 'tensorrt' or 'cuda', got '{name}'");
                            break;
                    }

                    foreach (var (key, valueNode) in Parameters(accelerator, "parameters", path + ".parameters"))
                    {
                        if (valueNode is ConfigScalar scalar)
                        {
                            providerOptions[key] = scalar.Value;
                        }
                    }
                }
            }
        }

        // Our simpler YAML form: execution { intra_op_threads, inter_op_threads, graph_optimization_level, execution_provider, provider_options }
        if (Block(root, "execution") is { } execution)
        {
            intra = Int(execution, "intra_op_threads", "execution.intra_op_threads") ?? intra;
            inter = Int(execution, "inter_op_threads", "execution.inter_op_threads") ?? inter;
            level = String(execution, "graph_optimization_level", "execution.graph_optimization_level") ?? level;
            provider = String(execution, "execution_provider", "execution.execution_provider") ?? provider;
            foreach (var (key, valueNode) in Parameters(execution, "provider_options", "execution.provider_options"))
            {
                if (valueNode is ConfigScalar scalar)
                {
                    providerOptions[key] = scalar.Value;
                }
            }
        }

        return new ExecutionConfig
        {
            IntraOpThreads = intra,
            InterOpThreads = inter,
            GraphOptimizationLevel = level,
            ExecutionProvider = provider,
            ProviderOptions = providerOptions,
        };
    }

    /// <summary>
    /// Reads a string map written either Triton's way (repeated <c>{ key: "k" value: "v" }</c> or
    /// <c>{ key: "k" value { string_value: "v" } }</c>) or as a plain mapping (<c>{ k: v }</c>).
    /// </summary>
    private IEnumerable<(string Key, ConfigNode Value)> Parameters(ConfigMessage parent, string field, string path)
    {
        foreach (var node in parent.GetAll(field))
        {
            if (node is not ConfigMessage entry)
            {
                Error(node, path, $"expected a block, got {node.Describe()}");
                continue;
            }

            if (entry.Get("key") is ConfigScalar key && entry.Has("value"))
            {
                var value = entry.Get("value")!;
                if (value is ConfigMessage wrapped)
                {
                    value = wrapped.Get("string_value") ?? wrapped;
                }

                yield return (key.Value, value);
                continue;
            }

            foreach (var (name, value) in entry.Fields)
            {
                yield return (name, value);
            }
        }
    }

    private ConfigMessage? Block(ConfigMessage parent, string field, string? path = null)
    {
        var node = parent.Get(field);
        switch (node)
        {
            case null:
                return null;
            case ConfigMessage message:
                return message;
            case ConfigScalar { Quoted: false, Value: "" or "null" or "~" }:
                return new ConfigMessage([], node.Line, node.Column);   // YAML "all:" with nothing after it
            default:
                Error(node, path ?? field, $"expected a block, got {node.Describe()}");
                return null;
        }
    }

    private string? String(ConfigMessage parent, string field, string? path = null)
    {
        var node = parent.Get(field);
        switch (node)
        {
            case null:
                return null;
            case ConfigScalar scalar:
                return scalar.Value;
            default:
                Error(node, path ?? field, $"expected a single value, got {node.Describe()}");
                return null;
        }
    }

    private long? Long(ConfigMessage parent, string field, string? path = null) =>
        parent.Get(field) is { } node ? ParseLong(node, path ?? field) : null;

    private int? Int(ConfigMessage parent, string field, string? path = null) =>
        parent.Get(field) is { } node ? ParseInt(node, path ?? field) : null;

    private bool? Bool(ConfigMessage parent, string field, string path)
    {
        if (parent.Get(field) is not { } node)
        {
            return null;
        }

        if (node is ConfigScalar scalar)
        {
            switch (scalar.Value)
            {
                case "true" or "True" or "t" or "1": return true;
                case "false" or "False" or "f" or "0": return false;
            }
        }

        Error(node, path, $"expected true or false, got {node.Describe()}");
        return null;
    }

    private int? ParseInt(ConfigNode node, string path)
    {
        if (ParseLong(node, path) is not { } value)
        {
            return null;
        }

        if (value is < int.MinValue or > int.MaxValue)
        {
            Error(node, path, $"{value} is out of range");
            return null;
        }

        return (int)value;
    }

    private long? ParseLong(ConfigNode node, string path)
    {
        if (node is ConfigScalar scalar)
        {
            var text = scalar.Value.Trim();
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }

            if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                && long.TryParse(text[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value))
            {
                return value;
            }
        }

        Error(node, path, $"expected an integer, got {node.Describe()}");
        return null;
    }

    private static TimeSpan Microseconds(long microseconds) =>
        TimeSpan.FromTicks(Math.Clamp(microseconds, -TimeSpan.MaxValue.Ticks / 10, TimeSpan.MaxValue.Ticks / 10) * 10);

    private void Error(ConfigNode node, string field, string message) =>
        _errors.Add($"{_fileName}:{node.Line}:{node.Column}: field '{field}': {message}");
}
