using System.Collections.Frozen;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Core.Serving;
using Sluice.Core.Tensors;
using Sluice.Engine.Configuration;
using Sluice.Engine.Repository;
using Sluice.Engine.Statistics;

namespace Sluice.Engine.Hosting;

/// <summary>
/// The engine's front: serves inference (<see cref="IInferenceService"/>) and manages the model repository
/// (<see cref="IModelRepositoryService"/>). Requests read one immutable <see cref="RepositoryState"/> snapshot without locks;
/// loads and unloads are serialized, build a new snapshot and publish it with <see cref="Volatile.Write{T}(ref T, T)"/>.
/// A replaced version is retired after the swap: it finishes what it admitted, then its runners are disposed.
/// </summary>
public sealed partial class ModelManager : IInferenceService, IModelRepositoryService, IAsyncDisposable
{
    private readonly ModelRepositoryOptions _options;
    private readonly IModelBackend _backend;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<ModelManager> _logger;
    private readonly ModelVersionLoader _loader;

    /// <summary>The snapshot requests read. Replaced under <see cref="_changeLock"/>.</summary>
    private RepositoryState _state = RepositoryState.Empty;

    /// <summary>Serializes loads, unloads and polls.</summary>
    private readonly SemaphoreSlim _changeLock = new(1, 1);

    /// <summary>Models being loaded now, for the index's LOADING state.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _loading = new(StringComparer.Ordinal);

    /// <summary>Retirements in progress (replaced or unloaded versions draining), awaited at shutdown.</summary>
    private readonly List<Task> _retirements = [];

    /// <summary>1 once disposed.</summary>
    private int _disposed;

    /// <summary>Path checks; created on first use, as the folder may be written (demo model) after construction.</summary>
    private ModelPaths? _paths;

    public ModelManager(
        IOptions<ModelRepositoryOptions> options, IModelBackend backend, TimeProvider timeProvider,
        ILogger<ModelManager> logger, IEnumerable<IModelConfigValidator>? validators = null, IEnumerable<IInferenceObserver>? observers = null)
    {
        _options = options.Value;
        _backend = backend;
        _timeProvider = timeProvider;
        _logger = logger;
        // The built-in validators always run; registered ones (TryAddEnumerable<IModelConfigValidator>) add their checks.
        IModelConfigValidator[] all = [.. ModelConfigValidation.Default, .. validators ?? []];
        _loader = new ModelVersionLoader(backend, new ModelConfigValidation(all), timeProvider, logger, _options.Device, observers?.ToArray(), _options.AllowHardwareMismatch);
    }

    /// <summary>The repository's options.</summary>
    public ModelRepositoryOptions Options => _options;

    private ModelPaths Paths => _paths ??= new ModelPaths(_options.RepositoryPath);

    private RepositoryState State => Volatile.Read(ref _state);

    // ───────────────────────────── inference ─────────────────────────────

    /// <summary>Runs one request.</summary>
    /// <remarks>
    /// <list type="number">
    /// <item>Admission against draining is the protocol layers' job (<see cref="ServerLifecycle.TryEnter"/>): they admit a
    /// request once, when it arrives, so one admitted before SIGTERM runs to completion even if it reaches the engine after.</item>
    /// <item>Resolve the model version from the current snapshot (ModelNotFound / ModelNotReady) and enter its admission gate;
    /// a version retiring right now sends the request to its replacement.</item>
    /// <item>Validate against the version's config (InvalidInput).</item>
    /// <item>Enqueue, which may reject with QueueFull.</item>
    /// <item>Await the completion: the response, QueueTimeout, a runtime failure, or cancellation while queued.</item>
    /// </list>
    /// </remarks>
    public async ValueTask<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);

        LoadedModelVersion? version = null;
        try
        {
            // :: Step 2
            version = Admit(request.ModelName, request.ModelVersion);

            // :: Step 3
            var validated = version.Validator.Validate(request);

            // :: Step 4
            var pending = version.Loop.Enqueue(request, validated.OrderedInputs, validated.OutputNames, validated.Rows, cancellationToken);

            // :: Step 5
            return await pending.Completion.Task.ConfigureAwait(false);
        }
        finally
        {
            version?.Release();
        }
    }

    /// <summary>Finds the version a request asks for and enters its admission gate.</summary>
    private LoadedModelVersion Admit(string? name, string? versionText)
    {
        for (var attempt = 0; attempt < 8; attempt++)
        {
            var version = Resolve(name, versionText, forInference: true);
            if (version.TryAdmit())
            {
                return version;
            }

            // Retiring: the snapshot was just replaced. The next read sees the replacement.
            Thread.Yield();
        }

        throw new InferenceException(InferenceError.ModelNotReady, $"model '{name}' is being reloaded; retry") { RetryAfter = TimeSpan.FromSeconds(1) };
    }

    /// <summary>The ready version a name and optional version select; throws ModelNotFound / ModelNotReady / InvalidInput.</summary>
    private LoadedModelVersion Resolve(string? name, string? versionText, bool forInference)
    {
        if (ModelPaths.CheckModelName(name) is { } problem)
        {
            throw new InferenceException(InferenceError.InvalidInput, $"model_name: {problem}");
        }

        var state = State;
        if (!state.Models.TryGetValue(name!, out var entry))
        {
            if (_loading.ContainsKey(name!))
            {
                throw new InferenceException(InferenceError.ModelNotReady, $"model '{name}' is loading") { RetryAfter = TimeSpan.FromSeconds(1) };
            }

            throw new InferenceException(InferenceError.ModelNotFound, $"model '{name}' is not in the repository (or not loaded)");
        }

        if (string.IsNullOrEmpty(versionText))
        {
            return entry.Latest ?? throw new InferenceException(
                InferenceError.ModelNotReady, $"model '{name}' has no ready version{FirstFailure(entry)}") { RetryAfter = forInference ? TimeSpan.FromSeconds(1) : null };
        }

        if (!ModelPaths.TryParseVersion(versionText, out var number))
        {
            throw new InferenceException(InferenceError.InvalidInput, $"model_version: must be a non-negative integer, got '{Printable(versionText)}'");
        }

        if (entry.Ready.TryGetValue(number, out var version))
        {
            return version;
        }

        if (entry.Failed.TryGetValue(number, out var failure))
        {
            throw new InferenceException(InferenceError.ModelNotReady, $"model '{name}' version {number} is not ready: {failure.Reason}");
        }

        throw new InferenceException(InferenceError.ModelNotFound, $"model '{name}' has no version {number}");
    }

    private static string FirstFailure(ModelEntry entry) =>
        entry.Failed.Count == 0 ? "" : ": " + entry.Failed.First().Value.Reason;

    // ───────────────────────────── repository queries ─────────────────────────────

    public bool IsModelReady(string name, string? version)
    {
        try
        {
            return !Resolve(name, version, forInference: false).IsRetiring;
        }
        catch (InferenceException)
        {
            return false;
        }
    }

    public ModelMetadata GetModelMetadata(string name, string? version)
    {
        var resolved = Resolve(name, version, forInference: false);
        var entry = State.Models[name];
        var versions = string.IsNullOrEmpty(version)
            ? entry.Ready.Keys.Order().Select(v => v.ToString(CultureInfo.InvariantCulture)).ToList()
            : [resolved.VersionText];
        var config = resolved.Config;
        return new ModelMetadata(
            name,
            versions,
            _backend.Platform,
            config.Inputs.Select(t => Metadata(t, config.MaxBatchSize)).ToList(),
            config.Outputs.Select(t => Metadata(t, config.MaxBatchSize)).ToList());
    }

    private static TensorMetadata Metadata(TensorConfig tensor, int maxBatchSize) =>
        new(tensor.Name, tensor.DataType.ToKServeName(), maxBatchSize > 0 ? [-1, .. tensor.Dims] : [.. tensor.Dims]);

    public ModelConfig GetModelConfig(string name, string? version) => Resolve(name, version, forInference: false).Config;

    public IReadOnlyList<RepositoryIndexEntry> GetIndex(bool readyOnly)
    {
        var state = State;
        var entries = new List<RepositoryIndexEntry>();
        foreach (var entry in state.Models.Values.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            foreach (var version in entry.Ready.Keys.Order())
            {
                entries.Add(new RepositoryIndexEntry(entry.Name, version.ToString(CultureInfo.InvariantCulture), "READY", ""));
            }

            if (readyOnly)
            {
                continue;
            }

            foreach (var (version, failure) in entry.Failed.OrderBy(p => p.Key))
            {
                if (entry.Ready.ContainsKey(version))
                {
                    continue;
                }

                var versionText = version == ModelEntry.ModelLevel ? "" : version.ToString(CultureInfo.InvariantCulture);
                entries.Add(new RepositoryIndexEntry(entry.Name, versionText, "UNAVAILABLE", failure.Reason));
            }
        }

        if (!readyOnly)
        {
            foreach (var name in ScanModelNames())
            {
                if (state.Models.ContainsKey(name))
                {
                    continue;
                }

                entries.Add(_loading.ContainsKey(name)
                    ? new RepositoryIndexEntry(name, "", "LOADING", "")
                    : new RepositoryIndexEntry(name, "", "UNAVAILABLE", "unloaded"));
            }
        }

        return entries;
    }

    public IReadOnlyList<ModelStatistics> GetStatistics(string? name, string? version)
    {
        if (string.IsNullOrEmpty(name))
        {
            return State.Models.Values
                .OrderBy(e => e.Name, StringComparer.Ordinal)
                .SelectMany(e => e.Ready.Values.OrderBy(v => v.Version))
                .Select(v => v.Statistics.Snapshot(v.Name, v.VersionText))
                .ToList();
        }

        if (string.IsNullOrEmpty(version))
        {
            _ = Resolve(name, null, forInference: false);
            return State.Models[name].Ready.Values.OrderBy(v => v.Version).Select(v => v.Statistics.Snapshot(v.Name, v.VersionText)).ToList();
        }

        var resolved = Resolve(name, version, forInference: false);
        return [resolved.Statistics.Snapshot(resolved.Name, resolved.VersionText)];
    }

    /// <summary>The outcome counts of one ready model version (the latest when <paramref name="version"/> is null).</summary>
    public RequestCounts GetRequestCounts(string name, string? version) => Resolve(name, version, forInference: false).Counters.Snapshot();

    /// <summary>Requests waiting in one ready version's queue now.</summary>
    public int GetQueuedCount(string name, string? version) => Resolve(name, version, forInference: false).Loop.QueuedCount;

    private static string Printable(string text)
    {
        var cleaned = new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return cleaned.Length > 32 ? cleaned[..32] + "…" : cleaned;
    }

    [GeneratedRegex(@"(?<![\w.])/(?:[^\s/'""]+/)+[^\s'"":,;]*")]
    private static partial Regex AbsolutePath();

    /// <summary>A load error as clients may see it: repository paths made relative, any other absolute path hidden.</summary>
    internal string ClientSafe(string message)
    {
        var root = Paths.Root + Path.DirectorySeparatorChar;
        var relative = message.Replace(root, "", StringComparison.Ordinal);
        var configured = Path.GetFullPath(_options.RepositoryPath).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        relative = relative.Replace(configured, "", StringComparison.Ordinal);
        relative = AbsolutePath().Replace(relative, "<path>");
        var newline = relative.IndexOfAny(['\r', '\n']);
        return newline < 0 ? relative : relative[..newline];
    }

    /// <summary>Retires every version without waiting for a drain (the hosted service drains at shutdown first). Idempotent:
    /// the container may dispose it once per service it was registered as.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await StopAllAsync(TimeSpan.Zero).ConfigureAwait(false);
    }
}
