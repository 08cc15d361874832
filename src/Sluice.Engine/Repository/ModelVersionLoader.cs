using Sluice.Onnx.Build;
using Sluice.Core.Inference;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Sluice.Core.Configuration;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;
using Sluice.Engine.Configuration;
using Sluice.Engine.Scheduling;
using Sluice.Engine.Statistics;

namespace Sluice.Engine.Repository;

/// <summary>
/// Loads one model version: reads the model's signature, completes and validates its config, creates one runner per instance,
/// warms each up with one run on zeros, and starts its batching loop. Anything that fails disposes what was made and throws.
/// </summary>
internal sealed class ModelVersionLoader(
    IModelBackend backend, ModelConfigValidation validation, TimeProvider timeProvider, ILogger logger, string defaultDevice,
    IReadOnlyList<Sluice.Core.Serving.IInferenceObserver>? observers = null, bool allowHardwareMismatch = false)
{
    /// <summary>Loads a version; throws <see cref="ModelConfigException"/> or the backend's exception on failure.</summary>
    /// <param name="parsed">The model's config file as read, or null when it has none.</param>
    /// <param name="configFileName">The config file's repository-relative name (or the model name) for messages.</param>
    public async Task<LoadedModelVersion> LoadAsync(
        string name, long version, ParsedModelConfig? parsed, string configFileName, string modelPath, VersionFingerprint fingerprint,
        CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        logger.ModelVersionLoading(name, version);

        // :: Step 0 — an engine built by `sluice build` says what hardware it was built for; refuse another unless told not to.
        var shapeProfile = ReadEngineManifest(name, version, modelPath);

        // :: Step 1 — the model's own inputs and outputs, then the config completed from them and validated.
        var execution = parsed?.Config.Execution ?? new ExecutionConfig();
        var signature = backend.ReadSignature(modelPath, execution);
        var config = ModelConfigCompleter.Complete(parsed, name, signature, configFileName);
        validation.Validate(config, configFileName);

        // :: Step 2 — one runner per instance, each warmed up before the version takes traffic.
        var runners = new List<IModelRunner>();
        try
        {
            var index = 0;
            foreach (var group in config.InstanceGroups)
            {
                var gpus = group.Kind == InstanceKind.Gpu && group.Gpus.Count > 0 ? group.Gpus : [0];
                foreach (var gpu in gpus)
                {
                    for (var i = 0; i < group.Count; i++)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var placement = new RunnerPlacement(ProviderFor(config, group), group.Kind == InstanceKind.Gpu ? gpu : 0, index++);
                        var runner = backend.CreateRunner(config, modelPath, placement);
                        runners.Add(runner);
                        await WarmUpAsync(runner, config, cancellationToken).ConfigureAwait(false);
                    }
                }
            }

            // :: Step 3 — the loop that owns the version's queue.
            var counters = new RequestCounters();
            var statistics = new VersionStatistics(timeProvider);
            var loop = new BatchingLoop(name, version, config, runners, timeProvider, logger, counters, statistics, observers);
            loop.Start();
            logger.ModelVersionLoaded(name, version, runners.Count, config.MaxBatchSize, config.DynamicBatching is not null,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return new LoadedModelVersion(name, version, config, fingerprint, runners, loop, counters, statistics, shapeProfile);
        }
        catch
        {
            foreach (var runner in runners)
            {
                runner.Dispose();
            }

            throw;
        }
    }

    /// <summary>
    /// Reads the version's engine manifest, when it has one, and checks its hardware fingerprint against this machine.
    /// Returns the engine's shape profile (empty without a manifest).
    /// </summary>
    private ShapeProfile ReadEngineManifest(string name, long version, string modelPath)
    {
        var versionDirectory = Path.GetDirectoryName(modelPath)!;
        if (!EngineManifest.Exists(versionDirectory))
        {
            return ShapeProfile.Empty;
        }

        EngineManifest manifest;
        try
        {
            manifest = EngineManifest.Read(versionDirectory);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or System.Text.Json.JsonException)
        {
            throw new InferenceException(InferenceError.LoadFailed, $"model '{name}' version {version}: {EngineManifest.FileName} is unreadable: {e.Message}");
        }

        var differences = HardwareFingerprint.Compare(manifest.Hardware, HardwareFingerprint.Current());
        if (differences.Count > 0)
        {
            var what = string.Join("; ", differences);
            if (!allowHardwareMismatch)
            {
                throw new InferenceException(
                    InferenceError.LoadFailed,
                    $"model '{name}' version {version}: the engine was built for other hardware ({what}); rebuild it here with 'sluice build', " +
                    "or start the server with --allow-hardware-mismatch");
            }

            logger.EngineHardwareMismatchAllowed(name, version, what);
        }

        return manifest.ShapeProfile;
    }

    /// <summary>
    /// The execution provider of an instance: the model's own choice, else the server's <c>--device</c>; a KIND_GPU group on a
    /// CPU server uses CUDA. A KIND_CPU group follows <c>--device</c>, so <c>--device cuda</c> moves default configs to the GPU.
    /// </summary>
    private string ProviderFor(ModelConfig config, InstanceGroupConfig group)
    {
        if (config.Execution.ExecutionProvider is { } provider)
        {
            return provider;
        }

        return group.Kind == InstanceKind.Gpu && defaultDevice == "cpu" ? "cuda" : defaultDevice;
    }

    /// <summary>
    /// Runs the config's <c>model_warmup</c> samples (each <c>count</c> times), or else the model once on zeros (variable
    /// dimensions as 1, batch of 1), so the first requests do not pay for first runs. Instances warm one after another, so
    /// CUDA graph captures never overlap.
    /// </summary>
    internal static async Task WarmUpAsync(IModelRunner runner, ModelConfig config, CancellationToken cancellationToken)
    {
        if (config.ModelWarmup.Count > 0)
        {
            var outputNames = config.Outputs.Select(o => o.Name).ToArray();
            foreach (var sample in config.ModelWarmup)
            {
                var sampleInputs = WarmupInputs(sample, config);
                for (var i = 0; i < sample.Count; i++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    await runner.RunAsync(sampleInputs, outputNames, cancellationToken).ConfigureAwait(false);
                }
            }

            return;
        }

        var inputs = new List<TensorData>(config.Inputs.Count);
        foreach (var input in config.Inputs)
        {
            long[] shape = config.MaxBatchSize > 0 ? [1, .. input.Dims] : [.. input.Dims];
            for (var i = 0; i < shape.Length; i++)
            {
                if (shape[i] < 0)
                {
                    shape[i] = 1;
                }
            }

            TensorShape.TryGetElementCount(shape, out var count);
            var bytes = input.DataType == DataType.Bytes ? checked(count * 4) : checked(count * input.DataType.ElementSize());
            inputs.Add(new TensorData(input.Name, input.DataType, shape, new byte[bytes]));
        }

        var result = await runner.RunAsync(inputs, config.Outputs.Select(o => o.Name).ToArray(), cancellationToken).ConfigureAwait(false);
        _ = result;
    }

    /// <summary>A warm-up sample's tensors in the model's input order: zeros, or random floats in [0, 1) / integers in [0, 100).</summary>
    internal static TensorData[] WarmupInputs(WarmupSample sample, ModelConfig config)
    {
        var random = new Random(17);
        var order = config.Inputs.Select(t => t.Name).ToList();
        var specs = sample.Inputs.OrderBy(i => order.IndexOf(i.Name)).ToArray();
        var tensors = new TensorData[specs.Length];
        for (var at = 0; at < specs.Length; at++)
        {
            var spec = specs[at];
            long[] shape = config.MaxBatchSize > 0 ? [sample.BatchSize, .. spec.Dims] : [.. spec.Dims];
            TensorShape.TryGetElementCount(shape, out var count);
            var bytes = new byte[checked(count * spec.DataType.ElementSize())];
            if (spec.RandomData)
            {
                FillRandom(bytes, spec.DataType, random);
            }

            tensors[at] = new TensorData(spec.Name, spec.DataType, shape, bytes);
        }

        return tensors;
    }

    private static void FillRandom(Span<byte> bytes, DataType type, Random random)
    {
        switch (type)
        {
            case DataType.Fp32:
                foreach (ref var v in System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes))
                {
                    v = random.NextSingle();
                }

                break;
            case DataType.Fp16:
                foreach (ref var v in System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(bytes))
                {
                    v = (Half)random.NextSingle();
                }

                break;
            case DataType.Int64:
                foreach (ref var v in System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(bytes))
                {
                    v = random.Next(100);
                }

                break;
            case DataType.Int32:
                foreach (ref var v in System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(bytes))
                {
                    v = random.Next(100);
                }

                break;
            default:   // other types stay zeros; BOOL gets random true/false
                for (var i = 0; i < bytes.Length; i++)
                {
                    bytes[i] = type == DataType.Bool ? (byte)random.Next(2) : (byte)0;
                }

                break;
        }
    }
}
