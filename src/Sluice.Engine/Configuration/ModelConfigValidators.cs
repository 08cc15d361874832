using Sluice.Core.Configuration;
using Sluice.Core.Tensors;

namespace Sluice.Engine.Configuration;

/// <summary>Checks one concern of a completed <see cref="ModelConfig"/>; all validators run, and their errors are reported together.</summary>
public interface IModelConfigValidator
{
    /// <summary>Adds one message per problem to <paramref name="errors"/>, naming the field and the actual values.</summary>
    /// <param name="config">The completed config.</param>
    /// <param name="fileName">The config file (relative to the repository) or the model name when it has none, for messages.</param>
    /// <param name="errors">Where to add messages.</param>
    void Validate(ModelConfig config, string fileName, ICollection<string> errors);
}

/// <summary>Runs every <see cref="IModelConfigValidator"/> and throws all their errors at once.</summary>
public sealed class ModelConfigValidation(IEnumerable<IModelConfigValidator> validators)
{
    private readonly IModelConfigValidator[] _validators = validators.ToArray();

    /// <summary>The built-in validators, one per concern.</summary>
    public static IReadOnlyList<IModelConfigValidator> Default { get; } =
    [
        new BackendValidator(),
        new TensorsValidator(),
        new BatchingValidator(),
        new QueuePolicyValidator(),
        new InstanceGroupValidator(),
        new VersionPolicyValidator(),
        new ExecutionValidator(),
        new WarmupValidator(),
    ];

    /// <summary>Throws <see cref="ModelConfigException"/> listing every problem, or returns when there is none.</summary>
    public void Validate(ModelConfig config, string fileName)
    {
        var errors = new List<string>();
        foreach (var validator in _validators)
        {
            validator.Validate(config, fileName, errors);
        }

        if (errors.Count > 0)
        {
            throw new ModelConfigException(string.Join("; ", errors));
        }
    }
}

/// <summary>backend / default_model_filename.</summary>
internal sealed class BackendValidator : IModelConfigValidator
{
    public void Validate(ModelConfig config, string fileName, ICollection<string> errors)
    {
        if (config.Backend != "onnxruntime")
        {
            errors.Add($"{fileName}: field 'backend': only 'onnxruntime' is supported, got '{config.Backend}'");
        }

        var file = config.DefaultModelFilename;
        if (file.Length == 0 || file is "." or ".." || file.IndexOfAny(['/', '\\', '\0']) >= 0 || Path.IsPathRooted(file))
        {
            errors.Add($"{fileName}: field 'default_model_filename': must be a plain file name, got '{Sanitize(file)}'");
        }
    }

    internal static string Sanitize(string text) => new(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
}

/// <summary>input / output: present, named once each, valid types and dims.</summary>
internal sealed class TensorsValidator : IModelConfigValidator
{
    public void Validate(ModelConfig config, string fileName, ICollection<string> errors)
    {
        Check("input", config.Inputs, fileName, errors);
        Check("output", config.Outputs, fileName, errors);
    }

    private static void Check(string kind, IReadOnlyList<TensorConfig> tensors, string fileName, ICollection<string> errors)
    {
        if (tensors.Count == 0)
        {
            errors.Add($"{fileName}: field '{kind}': the model needs at least one {kind}");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tensor in tensors)
        {
            if (!seen.Add(tensor.Name))
            {
                errors.Add($"{fileName}: field '{kind}': '{tensor.Name}' is declared more than once");
            }

            if (tensor.DataType == DataType.Invalid)
            {
                errors.Add($"{fileName}: field '{kind} '{tensor.Name}'.data_type': is missing or invalid");
            }

            for (var i = 0; i < tensor.Dims.Length; i++)
            {
                if (tensor.Dims[i] < -1)
                {
                    errors.Add($"{fileName}: field '{kind} '{tensor.Name}'.dims[{i}]': must be -1 (variable) or a size ≥ 0, got {tensor.Dims[i]}");
                }
            }
        }
    }
}

/// <summary>max_batch_size and dynamic_batching: sizes within bounds, preferred sizes ≤ max, delay within 0–1 s.</summary>
internal sealed class BatchingValidator : IModelConfigValidator
{
    public void Validate(ModelConfig config, string fileName, ICollection<string> errors)
    {
        if (config.MaxBatchSize is < 0 or > ModelConfigDefaults.MaxAllowedBatchSize)
        {
            errors.Add($"{fileName}: field 'max_batch_size': must be within 0..{ModelConfigDefaults.MaxAllowedBatchSize}, got {config.MaxBatchSize}");
        }

        if (config.DynamicBatching is not { } batching)
        {
            return;
        }

        if (config.MaxBatchSize == 0)
        {
            errors.Add($"{fileName}: field 'dynamic_batching': needs max_batch_size > 0, got max_batch_size 0");
        }

        foreach (var size in batching.PreferredBatchSizes)
        {
            if (size < 1 || size > config.MaxBatchSize)
            {
                errors.Add($"{fileName}: field 'dynamic_batching.preferred_batch_size': each must be within 1..max_batch_size ({config.MaxBatchSize}), got {size}");
            }
        }

        if (batching.MaxQueueDelay < TimeSpan.Zero || batching.MaxQueueDelay > ModelConfigDefaults.MaxAllowedQueueDelay)
        {
            errors.Add($"{fileName}: field 'dynamic_batching.max_queue_delay_microseconds': must be within 0..{(long)ModelConfigDefaults.MaxAllowedQueueDelay.TotalMicroseconds}, got {(long)batching.MaxQueueDelay.TotalMicroseconds}");
        }
    }
}

/// <summary>default_queue_policy: bounded, positive timeout, REJECT only.</summary>
internal sealed class QueuePolicyValidator : IModelConfigValidator
{
    public void Validate(ModelConfig config, string fileName, ICollection<string> errors)
    {
        if (config.DynamicBatching?.DefaultQueuePolicy is not { } policy)
        {
            return;
        }

        const string path = "dynamic_batching.default_queue_policy";
        if (policy.MaxQueueSize < 1)
        {
            errors.Add($"{fileName}: field '{path}.max_queue_size': must be ≥ 1 (every queue is bounded), got {policy.MaxQueueSize}");
        }

        if (policy.DefaultTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{fileName}: field '{path}.default_timeout_microseconds': must be > 0, got {(long)policy.DefaultTimeout.TotalMicroseconds}");
        }

        if (policy.TimeoutAction != "REJECT")
        {
            errors.Add($"{fileName}: field '{path}.timeout_action': only REJECT is supported, got '{policy.TimeoutAction}'");
        }
    }
}

/// <summary>instance_group: counts and GPU ordinals.</summary>
internal sealed class InstanceGroupValidator : IModelConfigValidator
{
    public void Validate(ModelConfig config, string fileName, ICollection<string> errors)
    {
        for (var i = 0; i < config.InstanceGroups.Count; i++)
        {
            var group = config.InstanceGroups[i];
            if (group.Count is < 1 or > ModelConfigDefaults.MaxInstanceCount)
            {
                errors.Add($"{fileName}: field 'instance_group[{i}].count': must be within 1..{ModelConfigDefaults.MaxInstanceCount}, got {group.Count}");
            }

            foreach (var gpu in group.Gpus)
            {
                if (gpu < 0)
                {
                    errors.Add($"{fileName}: field 'instance_group[{i}].gpus': GPU ordinals are ≥ 0, got {gpu}");
                }
            }

            if (group.Kind == InstanceKind.Cpu && group.Gpus.Count > 0)
            {
                errors.Add($"{fileName}: field 'instance_group[{i}].gpus': only KIND_GPU groups list GPUs, this one is KIND_CPU");
            }
        }
    }
}

/// <summary>version_policy: latest ≥ 1, specific non-empty and non-negative.</summary>
internal sealed class VersionPolicyValidator : IModelConfigValidator
{
    public void Validate(ModelConfig config, string fileName, ICollection<string> errors)
    {
        var policy = config.VersionPolicy;
        if (policy.Kind == VersionPolicyKind.Latest && policy.LatestCount < 1)
        {
            errors.Add($"{fileName}: field 'version_policy.latest.num_versions': must be ≥ 1, got {policy.LatestCount}");
        }

        if (policy.Kind == VersionPolicyKind.Specific)
        {
            if (policy.Versions.Count == 0)
            {
                errors.Add($"{fileName}: field 'version_policy.specific.versions': lists no versions");
            }

            foreach (var version in policy.Versions.Where(v => v < 0))
            {
                errors.Add($"{fileName}: field 'version_policy.specific.versions': versions are ≥ 0, got {version}");
            }
        }
    }
}

/// <summary>Execution settings: thread counts, optimization level, provider.</summary>
internal sealed class ExecutionValidator : IModelConfigValidator
{
    private static readonly string[] Levels = ["disabled", "basic", "extended", "all"];
    private static readonly string[] Providers = ["cpu", "cuda", "tensorrt"];

    public void Validate(ModelConfig config, string fileName, ICollection<string> errors)
    {
        var execution = config.Execution;
        if (execution.IntraOpThreads < 0)
        {
            errors.Add($"{fileName}: field 'intra_op_thread_count': must be ≥ 0, got {execution.IntraOpThreads}");
        }

        if (execution.InterOpThreads < 0)
        {
            errors.Add($"{fileName}: field 'inter_op_thread_count': must be ≥ 0, got {execution.InterOpThreads}");
        }

        if (!Levels.Contains(execution.GraphOptimizationLevel))
        {
            errors.Add($"{fileName}: field 'graph_optimization_level': expected one of {string.Join(", ", Levels)}, got '{execution.GraphOptimizationLevel}'");
        }

        if (execution.ExecutionProvider is { } provider && !Providers.Contains(provider))
        {
            errors.Add($"{fileName}: field 'execution_provider': expected one of {string.Join(", ", Providers)}, got '{provider}'");
        }
    }
}

/// <summary>model_warmup: each sample names every model input once, with the input's type and fixed dims, within max_batch_size.</summary>
internal sealed class WarmupValidator : IModelConfigValidator
{
    public void Validate(ModelConfig config, string fileName, ICollection<string> errors)
    {
        for (var i = 0; i < config.ModelWarmup.Count; i++)
        {
            var sample = config.ModelWarmup[i];
            var path = $"{fileName}: field 'model_warmup[{i}]'";
            if (config.MaxBatchSize > 0 && (sample.BatchSize < 1 || sample.BatchSize > config.MaxBatchSize))
            {
                errors.Add($"{path}.batch_size: must be from 1 to max_batch_size ({config.MaxBatchSize}), got {sample.BatchSize}");
            }
            else if (config.MaxBatchSize == 0 && sample.BatchSize > 1)
            {
                errors.Add($"{path}.batch_size: the model does not batch (max_batch_size 0), got {sample.BatchSize}");
            }

            foreach (var input in sample.Inputs)
            {
                var declared = config.Inputs.FirstOrDefault(t => t.Name == input.Name);
                if (declared is null)
                {
                    errors.Add($"{path}.inputs['{input.Name}']: the model has no such input (inputs: {string.Join(", ", config.Inputs.Select(t => t.Name))})");
                    continue;
                }

                if (declared.DataType == DataType.Bytes)
                {
                    errors.Add($"{path}.inputs['{input.Name}']: BYTES inputs cannot be warmed with zero_data or random_data");
                }
                else if (input.DataType != DataType.Invalid && input.DataType != declared.DataType)
                {
                    errors.Add($"{path}.inputs['{input.Name}'].data_type: the input is {declared.DataType.ToTritonConfigName()}, got {input.DataType.ToTritonConfigName()}");
                }

                if (input.Dims.Length != declared.Dims.Length || input.Dims.Where((d, k) => d < 1 || (declared.Dims[k] >= 0 && declared.Dims[k] != d)).Any())
                {
                    errors.Add($"{path}.inputs['{input.Name}'].dims: need {declared.Dims.Length} fixed dims matching [{string.Join(", ", declared.Dims)}], got [{string.Join(", ", input.Dims)}]");
                }
            }

            foreach (var missing in config.Inputs.Where(t => sample.Inputs.All(w => w.Name != t.Name)))
            {
                errors.Add($"{path}.inputs: input '{missing.Name}' is missing (a sample gives every model input)");
            }
        }
    }
}
