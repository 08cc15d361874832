using Sluice.Core.Configuration;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;

namespace Sluice.Engine.Configuration;

/// <summary>
/// Completes a configuration from the model file's own signature, as Triton's auto-complete does, and rejects one that
/// contradicts the model. Pure: no I/O.
/// </summary>
/// <remarks>
/// <list type="number">
/// <item>No max_batch_size given: <see cref="ModelConfigDefaults.AutoCompleteMaxBatchSize"/> when every input and output of the
/// model has a dynamic first dimension (and dynamic batching turns on with defaults), else 0.</item>
/// <item>Inputs the config leaves out are taken from the model; outputs too when the config lists none (listing some exposes
/// only those). Those it lists must exist in the model, with the same data type and rank, and fixed dimensions that agree.</item>
/// </list>
/// </remarks>
internal static class ModelConfigCompleter
{
    /// <summary>Returns the completed config. Throws <see cref="ModelConfigException"/> listing every contradiction.</summary>
    public static ModelConfig Complete(ParsedModelConfig? parsed, string modelName, ModelSignature signature, string fileName)
    {
        var errors = new List<string>();
        var config = parsed?.Config ?? new ModelConfig { Name = modelName };
        var hasMaxBatchSize = parsed?.HasMaxBatchSize ?? false;
        var hasDynamicBatching = parsed?.HasDynamicBatching ?? false;

        var maxBatchSize = config.MaxBatchSize;
        var dynamicBatching = config.DynamicBatching;
        if (!hasMaxBatchSize)
        {
            var batchable = signature.Inputs.Concat(signature.Outputs).All(t => t.Dims.Length > 0 && t.Dims[0] == -1);
            maxBatchSize = batchable ? ModelConfigDefaults.AutoCompleteMaxBatchSize : 0;
            if (batchable && !hasDynamicBatching)
            {
                dynamicBatching = new DynamicBatchingConfig();
            }
        }

        var batchDims = maxBatchSize > 0 ? 1 : 0;
        var inputs = CompleteTensors("input", config.Inputs, signature.Inputs, batchDims, maxBatchSize, fileName, errors);
        var outputs = CompleteTensors("output", config.Outputs, signature.Outputs, batchDims, maxBatchSize, fileName, errors);
        if (errors.Count > 0)
        {
            throw new ModelConfigException(string.Join("; ", errors));
        }

        return config with
        {
            Name = modelName,
            MaxBatchSize = maxBatchSize,
            DynamicBatching = dynamicBatching,
            Inputs = inputs,
            Outputs = outputs,
        };
    }

    private static List<TensorConfig> CompleteTensors(
        string kind, IReadOnlyList<TensorConfig> configured, IReadOnlyList<TensorConfig> model, int batchDims, int maxBatchSize,
        string fileName, List<string> errors)
    {
        var byName = model.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var result = new List<TensorConfig>();
        foreach (var tensor in configured)
        {
            if (!byName.TryGetValue(tensor.Name, out var actual))
            {
                errors.Add($"{fileName}: field '{kind}': '{tensor.Name}' is not an {kind} of the model (the model's {kind}s: {string.Join(", ", model.Select(t => t.Name))})");
                continue;
            }

            if (tensor.DataType != DataType.Invalid && tensor.DataType != actual.DataType)
            {
                errors.Add($"{fileName}: field '{kind} '{tensor.Name}'.data_type': config says {tensor.DataType.ToKServeName()}, the model declares {actual.DataType.ToKServeName()}");
                continue;
            }

            var modelDims = actual.Dims;
            if (tensor.Dims.Length + batchDims != modelDims.Length)
            {
                var batchNote = batchDims == 1 ? $" (plus the batch dimension, as max_batch_size is {maxBatchSize})" : "";
                errors.Add($"{fileName}: field '{kind} '{tensor.Name}'.dims': config gives {tensor.Dims.Length} dimensions {TensorShape.Format(tensor.Dims)}{batchNote}, the model has rank {modelDims.Length} {TensorShape.Format(modelDims)}");
                continue;
            }

            var merged = new long[tensor.Dims.Length];
            var ok = true;
            for (var i = 0; i < merged.Length; i++)
            {
                var mine = tensor.Dims[i];
                var theirs = modelDims[i + batchDims];
                if (mine >= 0 && theirs >= 0 && mine != theirs)
                {
                    errors.Add($"{fileName}: field '{kind} '{tensor.Name}'.dims[{i}]': config says {mine}, the model declares {theirs}");
                    ok = false;
                }

                merged[i] = mine >= 0 ? mine : theirs;
            }

            if (ok && batchDims == 1 && modelDims[0] >= 0)
            {
                errors.Add($"{fileName}: field 'max_batch_size': is {maxBatchSize}, but {kind} '{tensor.Name}' has a fixed first dimension {modelDims[0]} (set max_batch_size: 0 for models without a batch dimension)");
                ok = false;
            }

            if (ok)
            {
                result.Add(new TensorConfig(tensor.Name, actual.DataType, merged));
            }
        }

        // Tensors the config leaves out come from the model, in the model's order: every missing input (the model needs them
        // all), but outputs only when the config lists none, so a config may expose a subset of the model's outputs.
        if (kind == "output" && configured.Count > 0)
        {
            return result;
        }

        foreach (var tensor in model)
        {
            if (configured.Any(c => c.Name == tensor.Name))
            {
                continue;
            }

            if (batchDims == 1 && (tensor.Dims.Length == 0 || tensor.Dims[0] >= 0))
            {
                errors.Add($"{fileName}: field 'max_batch_size': is {maxBatchSize}, but {kind} '{tensor.Name}' has no dynamic first dimension ({TensorShape.Format(tensor.Dims)})");
                continue;
            }

            result.Add(new TensorConfig(tensor.Name, tensor.DataType, tensor.Dims[batchDims..]));
        }

        return result;
    }
}
