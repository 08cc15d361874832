using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.ML.Tokenizers;
using Sluice.Core.Configuration;
using Sluice.Core.Generation;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Engine.Hosting;
using Sluice.Onnx.Graph;

namespace Sluice.Engine.Generation;

/// <summary>
/// The decoder models of the repository (folders with a <c>decoder_config.json</c>) and their schedulers, as
/// <see cref="IGenerationService"/>. Models load when the host starts (after the repository loader, which writes the demo
/// repository) and drain at shutdown: admitted sequences finish before runners are disposed.
/// </summary>
public sealed partial class GenerationManager : IGenerationService, IHostedService, IAsyncDisposable
{
    private readonly ModelRepositoryOptions _options;
    private readonly IModelBackend _backend;
    private readonly IEnumerable<IGenerationObserver> _observers;
    private readonly ISlotDecoderRunnerFactory? _slotRunners;
    private readonly ILogger<GenerationManager> _logger;
    private readonly ConcurrentDictionary<string, LoadedDecoder> _models = new(StringComparer.Ordinal);

    /// <summary>Creates the manager; models load in <see cref="StartAsync"/>.</summary>
    public GenerationManager(IOptions<ModelRepositoryOptions> options, IEnumerable<IModelBackend> backends,
        IEnumerable<IGenerationObserver> observers, ILogger<GenerationManager> logger, ISlotDecoderRunnerFactory? slotRunners = null)
    {
        _slotRunners = slotRunners;
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(backends);
        _options = options.Value;
        _backend = backends.First(b => b.Name == "onnxruntime");
        _observers = observers;
        _logger = logger;
    }

    /// <inheritdoc />
    public IReadOnlyList<GenerationModelInfo> Models => _models.Values.Select(m => m.Info).OrderBy(m => m.Name, StringComparer.Ordinal).ToArray();

    /// <inheritdoc />
    public bool TryGetModel(string name, out GenerationModelInfo info)
    {
        if (name is not null && _models.TryGetValue(name, out var model))
        {
            info = model.Info;
            return true;
        }

        info = null!;
        return false;
    }

    /// <inheritdoc />
    public int[] Tokenize(string model, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Get(model).Tokenizer.EncodeToIds(text).ToArray();
    }

    /// <inheritdoc />
    public string ApplyChatTemplate(string model, IReadOnlyList<ChatMessage> messages) =>
        ChatTemplates.Render(Get(model).Settings.ChatTemplate, messages);

    /// <inheritdoc />
    public GenerationHandle Start(GenerationRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Get(request.Model).Scheduler.Admit(request, cancellationToken);
    }

    /// <inheritdoc />
    public IReadOnlyList<GenerationModelStats> GetStats() =>
        _models.Values.Select(m => m.Scheduler.Stats).OrderBy(s => s.Model, StringComparer.Ordinal).ToArray();

    /// <summary>Loads every decoder model of the repository; a broken one is logged and skipped, the others serve.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var root = _options.RepositoryPath;
        if (string.IsNullOrEmpty(root) || !Directory.Exists(root))
        {
            return Task.CompletedTask;
        }

        foreach (var directory in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            if (Path.GetFileName(directory).StartsWith('.') || !DecoderModelSettings.IsDecoderFolder(directory))
            {
                continue;
            }

            try
            {
                Load(directory);
            }
            catch (InferenceException e)
            {
                LogLoadFailed(_logger, Path.GetFileName(directory), e.Message);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>Loads one decoder model folder (replacing a loaded model of that name). Throws <see cref="InferenceException"/> (LoadFailed).</summary>
    public void Load(string modelDirectory)
    {
        var settings = DecoderModelSettings.Load(modelDirectory);
        var tokenizer = TokenizerFactory.Create(settings);
        var provider = settings.ExecutionProvider ?? _options.Device;
        var config = new ModelConfig
        {
            Name = settings.Name,
            Execution = new ExecutionConfig
            {
                ExecutionProvider = provider, IntraOpThreads = settings.IntraOpThreads, ProviderOptions = WithCpuSpinDefault(settings.ProviderOptions, provider),
            },
        };
        IKvBackend? cache = null;
        try
        {
            cache = settings.KvLayout == "shared_buffer" ? CreateSlotBackend(settings, provider) : CreateBlockBackend(settings, config, provider);
            var scheduler = new SequenceScheduler(settings, tokenizer, cache, _observers, _logger);
            var info = new GenerationModelInfo(settings.Name, settings.ContextLength, settings.VocabSize, settings.EosTokenIds,
                DateTimeOffset.UtcNow.ToUnixTimeSeconds(), settings.ChatTemplate);
            var loaded = new LoadedDecoder(settings, tokenizer, cache, scheduler, info);
            if (_models.TryGetValue(settings.Name, out var previous))
            {
                _models[settings.Name] = loaded;
                _ = previous.DisposeAsync(_options.UnloadDrainTimeout);
            }
            else
            {
                _models[settings.Name] = loaded;
            }

            LogLoaded(_logger, settings.Name, settings.Version, cache.Description, cache.TotalBytes / (1024.0 * 1024.0), settings.MaxRunning);
        }
        catch
        {
            cache?.Dispose();
            throw;
        }
    }

    /// <summary>How long ONNX Runtime's idle intra-op threads spin on CPU unless the model's provider_options say otherwise.</summary>
    /// <remarks>
    /// Between a decoder's runs the scheduler gathers the KV cache, samples and streams on the same cores; with ONNX Runtime's
    /// default spinning its idle threads burned ~20 % of a 2-core host meanwhile (perf, concurrency 32). 50 µs still covers the
    /// gaps between a run's own parallel sections. Measured with benchmarks/Sluice.LlmBench (BENCHMARKS.md, issue 8).
    /// </remarks>
    internal const string CpuSpinDurationMicroseconds = "50";

    internal static IReadOnlyDictionary<string, string> WithCpuSpinDefault(IReadOnlyDictionary<string, string> options, string? provider)
    {
        var cpu = string.IsNullOrWhiteSpace(provider) || provider.Trim().Equals("cpu", StringComparison.OrdinalIgnoreCase);
        if (!cpu || options.Keys.Any(static k => k.StartsWith("session.intra_op.", StringComparison.Ordinal) && k.Contains("spin", StringComparison.Ordinal)))
        {
            return options;
        }

        return new Dictionary<string, string>(options, StringComparer.Ordinal) { ["session.intra_op.spin_duration_us"] = CpuSpinDurationMicroseconds };
    }

    private BlockKvBackend CreateBlockBackend(DecoderModelSettings settings, ModelConfig config, string provider)
    {
        var signature = _backend.ReadSignature(settings.ModelPath, config.Execution);
        IModelRunner runner;
        bool lastPositionLogits;
        using (var rewritten = LastPositionLogits.TryWrite(settings.ModelPath, out var reason))
        {
            // The session reads the copy while it loads; the copy is deleted right after.
            runner = _backend.CreateRunner(config, rewritten?.Path ?? settings.ModelPath, new RunnerPlacement(provider, 0, 0));
            lastPositionLogits = rewritten is not null;
            if (!lastPositionLogits)
            {
                LogEveryPositionLogits(_logger, settings.Name, reason);
            }
        }

        KvCachePool? pool = null;
        try
        {
            pool = new KvCachePool((settings.KvCacheTokens + settings.KvBlockSize - 1) / settings.KvBlockSize, settings.KvBlockSize,
                settings.Layers, settings.KvHeads, settings.HeadDim, settings.KvElementSize);
            var executor = new DecoderExecutor(runner, signature, pool, settings, lastPositionLogits);
            return new BlockKvBackend(pool, executor, settings.ContextLength, runner);
        }
        catch
        {
            pool?.Dispose();
            runner.Dispose();
            throw;
        }
    }

    private SlotKvBackend CreateSlotBackend(DecoderModelSettings settings, string provider)
    {
        if (_slotRunners is null)
        {
            throw new InferenceException(InferenceError.LoadFailed, $"Decoder model '{settings.Name}' uses kv_layout shared_buffer, which this host cannot run.");
        }

        var options = new Dictionary<string, string>(WithCpuSpinDefault(settings.ProviderOptions, provider), StringComparer.Ordinal);
        if (settings.CudaGraph && provider == "cuda")
        {
            options["enable_cuda_graph"] = "1";
        }

        var spec = new SlotDecoderSpec(settings.Name, settings.Layers, settings.KvHeads, settings.HeadDim, settings.VocabSize,
            settings.MaxPosition, settings.MaxRunning, settings.KvElementSize == 2);
        var runner = _slotRunners.Create(settings.ModelPath, spec, provider, 0, options);
        return new SlotKvBackend(runner, settings.VocabSize);
    }

    /// <summary>Drains every model: admitted sequences finish (up to the unload drain timeout), then runners are released.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var models = _models.Values.ToArray();
        _models.Clear();
        await Task.WhenAll(models.Select(m => m.DisposeAsync(_options.UnloadDrainTimeout))).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private LoadedDecoder Get(string name) =>
        name is not null && _models.TryGetValue(name, out var model)
            ? model
            : throw new InferenceException(InferenceError.ModelNotFound, $"Model '{name}' is not a loaded decoder model.");

    [LoggerMessage(EventId = 4100, Level = LogLevel.Information,
        Message = "Decoder model '{Model}' version {Version} loaded; KV cache: {Cache}, {CacheMiB:F0} MiB preallocated; up to {MaxRunning} running sequences")]
    private static partial void LogLoaded(ILogger logger, string model, string version, string cache, double cacheMiB, int maxRunning);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Information,
        Message = "Decoder model '{Model}': the vocabulary projection runs for every position, prompt tokens included, since the graph could not be rewritten to keep the last one: {Reason}")]
    private static partial void LogEveryPositionLogits(ILogger logger, string model, string reason);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Error, Message = "Decoder model '{Model}' failed to load: {Reason}")]
    private static partial void LogLoadFailed(ILogger logger, string model, string reason);

    private sealed record LoadedDecoder(
        DecoderModelSettings Settings, Tokenizer Tokenizer, IKvBackend Cache, SequenceScheduler Scheduler, GenerationModelInfo Info)
    {
        public async Task DisposeAsync(TimeSpan drainTimeout)
        {
            await Scheduler.DrainAsync(drainTimeout).ConfigureAwait(false);
            await Scheduler.DisposeAsync().ConfigureAwait(false);
            Cache.Dispose();
        }
    }
}
