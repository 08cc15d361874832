using System.Globalization;
using Microsoft.Extensions.Logging;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Engine.Configuration;
using Sluice.Engine.Repository;

namespace Sluice.Engine.Hosting;

public sealed partial class ModelManager
{
    /// <summary>Loads (or reloads) a model from the repository: new and changed versions load and warm up, then take traffic.</summary>
    /// <exception cref="InferenceException">InvalidInput for an unsafe name or in control mode none; ModelNotFound when the
    /// repository has no such model; LoadFailed when no version of it could be loaded (the reason names the file and field).</exception>
    public async Task LoadModelAsync(string name, CancellationToken cancellationToken)
    {
        RequireControl();
        if (ModelPaths.CheckModelName(name) is { } problem)
        {
            throw new InferenceException(InferenceError.InvalidInput, $"model_name: {problem}");
        }

        await _changeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!ModelExistsOnDisk(name))
            {
                throw new InferenceException(InferenceError.ModelNotFound, $"model '{name}' is not in the repository");
            }

            var entry = await SyncModelAsync(name, cancellationToken).ConfigureAwait(false);
            if (entry is null || entry.Ready.Count == 0)
            {
                var reason = entry?.Failed.Values.FirstOrDefault()?.Reason ?? "no version folder with a model file";
                throw new InferenceException(InferenceError.LoadFailed, $"model '{name}' failed to load: {reason}");
            }

            // Some version (or the config) failed while others serve: the caller asked for a load, so say what did not load.
            var failure = entry.Failed.Where(f => !entry.Ready.ContainsKey(f.Key)).Select(f => f.Value).FirstOrDefault();
            if (failure is not null)
            {
                var serving = string.Join(", ", entry.Ready.Keys.Order());
                throw new InferenceException(
                    InferenceError.LoadFailed, $"model '{name}' did not load completely: {failure.Reason} (version {serving} keeps serving)");
            }
        }
        finally
        {
            _changeLock.Release();
        }
    }

    /// <summary>Unloads every version of a model after its admitted requests finish.</summary>
    public async Task UnloadModelAsync(string name, CancellationToken cancellationToken)
    {
        RequireControl();
        if (ModelPaths.CheckModelName(name) is { } problem)
        {
            throw new InferenceException(InferenceError.InvalidInput, $"model_name: {problem}");
        }

        Task retire;
        await _changeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var state = State;
            if (!state.Models.TryGetValue(name, out var entry))
            {
                if (ModelExistsOnDisk(name))
                {
                    return;   // already unloaded
                }

                throw new InferenceException(InferenceError.ModelNotFound, $"model '{name}' is not in the repository");
            }

            Volatile.Write(ref _state, state.With(name, null));
            retire = RetireAll(entry.Ready.Values);
        }
        finally
        {
            _changeLock.Release();
        }

        await retire.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Loads what the control mode loads at start: everything (none, poll) or the startup models (explicit).</summary>
    public async Task LoadInitialModelsAsync(CancellationToken cancellationToken)
    {
        IEnumerable<string> names = ScanModelNames();
        if (_options.ControlMode == ModelControlMode.Explicit && !_options.StartupModels.Contains("*"))
        {
            names = _options.StartupModels;
        }

        await _changeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var name in names.Distinct(StringComparer.Ordinal))
            {
                if (ModelPaths.CheckModelName(name) is { } problem)
                {
                    _logger.ModelSkipped($"model name: {problem}");
                    continue;
                }

                if (!ModelExistsOnDisk(name))
                {
                    _logger.ModelSkipped($"model '{name}' is not in the repository");
                    continue;
                }

                await SyncModelAsync(name, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _changeLock.Release();
        }
    }

    /// <summary>One poll: loads new or changed models and versions, unloads removed ones. Unchanged ones cost a few file stats.</summary>
    public async Task PollAsync(CancellationToken cancellationToken)
    {
        await _changeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var onDisk = ScanModelNames().ToHashSet(StringComparer.Ordinal);
            foreach (var name in onDisk.Order(StringComparer.Ordinal))
            {
                await SyncModelAsync(name, cancellationToken).ConfigureAwait(false);
            }

            foreach (var (name, entry) in State.Models)
            {
                if (!onDisk.Contains(name))
                {
                    Volatile.Write(ref _state, State.With(name, null));
                    _ = RetireAll(entry.Ready.Values);
                }
            }
        }
        finally
        {
            _changeLock.Release();
        }
    }

    /// <summary>Retires every loaded version (shutdown): each finishes its admitted requests within <paramref name="drainTimeout"/>.</summary>
    public async Task StopAllAsync(TimeSpan drainTimeout)
    {
        await _changeLock.WaitAsync().ConfigureAwait(false);
        Task[] pending;
        try
        {
            var state = State;
            Volatile.Write(ref _state, RepositoryState.Empty);
            _ = RetireAll(state.Models.Values.SelectMany(e => e.Ready.Values), drainTimeout);
            lock (_retirements)
            {
                pending = [.. _retirements];
            }
        }
        finally
        {
            _changeLock.Release();
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    /// <summary>
    /// Brings one model in line with its folder (caller holds <see cref="_changeLock"/>). Versions whose files are unchanged stay;
    /// new or changed ones load and warm up; a failure leaves what served before serving and is recorded with its reason. Then
    /// the new snapshot is published and versions no longer wanted retire.
    /// </summary>
    private async Task<ModelEntry?> SyncModelAsync(string name, CancellationToken cancellationToken)
    {
        var old = State.Models.GetValueOrDefault(name);
        var ready = new Dictionary<long, LoadedModelVersion>();
        var failed = new Dictionary<long, VersionFailure>();
        var modelDirectory = Paths.ModelDirectory(name);
        var configPath = ModelConfigFile.Find(modelDirectory);
        var configFileName = configPath is null ? name : $"{name}/{Path.GetFileName(configPath)}";

        // :: Step 1 — the config; if it is broken, everything that served keeps serving.
        ParsedModelConfig? parsed;
        try
        {
            parsed = ModelConfigFile.Read(modelDirectory, name);
        }
        catch (Exception e) when (e is ModelConfigException or IOException or UnauthorizedAccessException)
        {
            var reason = ClientSafe(e.Message);
            var fingerprint = VersionFingerprint.Of(configPath, Path.Combine(modelDirectory, "-"));
            if (old?.Failed.GetValueOrDefault(ModelEntry.ModelLevel) is { } known && known.Fingerprint == fingerprint)
            {
                return old;   // same broken config as last poll: nothing new to say
            }

            _logger.ModelVersionLoadFailed(name, "*", reason, null);
            var keep = old?.Ready ?? new Dictionary<long, LoadedModelVersion>();
            var entry = new ModelEntry(name, keep, new Dictionary<long, VersionFailure> { [ModelEntry.ModelLevel] = new(reason, fingerprint) });
            Volatile.Write(ref _state, State.With(name, entry));
            return entry;
        }

        // :: Step 2 — the versions the policy wants, from the numeric folders that stay inside the repository.
        var policy = parsed?.Config.VersionPolicy ?? VersionPolicy.Latest(1);
        var fileName = parsed?.Config.DefaultModelFilename ?? "model.onnx";
        var available = new List<long>();
        foreach (var directory in SafeEnumerateDirectories(modelDirectory))
        {
            var folder = Path.GetFileName(directory);
            if (!ModelPaths.TryParseVersion(folder, out var number))
            {
                continue;
            }

            if (!Paths.IsInside(directory))
            {
                failed[number] = new VersionFailure($"version folder '{name}/{folder}' links outside the model repository; not loaded", default);
                continue;
            }

            available.Add(number);
        }

        var wanted = policy.Select(available);

        // :: Step 3 — keep unchanged versions, load new or changed ones.
        _loading[name] = 0;
        try
        {
            foreach (var number in wanted)
            {
                string modelPath;
                try
                {
                    modelPath = Paths.ModelFile(name, number, fileName);
                }
                catch (ArgumentException e)
                {
                    failed[number] = new VersionFailure($"{name}/{number}: {e.Message}", default);
                    continue;
                }

                var fingerprint = VersionFingerprint.Of(configPath, modelPath);
                if (old?.Ready.GetValueOrDefault(number) is { } current && current.Fingerprint == fingerprint)
                {
                    ready[number] = current;
                    continue;
                }

                if (old?.Failed.GetValueOrDefault(number) is { } knownFailure && knownFailure.Fingerprint == fingerprint)
                {
                    failed[number] = knownFailure;   // same files as the failed attempt: do not retry every poll
                    if (old.Ready.GetValueOrDefault(number) is { } stillServing)
                    {
                        ready[number] = stillServing;
                    }

                    continue;
                }

                if (!File.Exists(modelPath))
                {
                    failed[number] = new VersionFailure($"{name}/{number}/{fileName}: model file not found", fingerprint);
                    continue;
                }

                try
                {
                    ready[number] = await _loader.LoadAsync(name, number, parsed, configFileName, modelPath, fingerprint, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    var reason = ClientSafe(e is InferenceException or ModelConfigException ? e.Message : $"{name}/{number}: {e.Message}");
                    _logger.ModelVersionLoadFailed(name, number.ToString(CultureInfo.InvariantCulture), reason, e is ModelConfigException ? null : e);
                    failed[number] = new VersionFailure(reason, fingerprint);
                    if (old?.Ready.GetValueOrDefault(number) is { } previous)
                    {
                        ready[number] = previous;   // the old files' instance keeps serving
                    }
                }
            }
        }
        finally
        {
            _loading.TryRemove(name, out _);
        }

        // :: Step 4 — versions no longer wanted retire, unless nothing wanted could load: then the old ones keep serving.
        var retiring = new List<LoadedModelVersion>();
        if (old is not null)
        {
            foreach (var (number, version) in old.Ready)
            {
                if (ready.TryGetValue(number, out var kept) && ReferenceEquals(kept, version))
                {
                    continue;
                }

                if (!ready.ContainsKey(number) && ready.Count == 0)
                {
                    ready[number] = version;
                    continue;
                }

                retiring.Add(version);
            }
        }

        var updated = new ModelEntry(name, ready, failed);
        Volatile.Write(ref _state, State.With(name, updated));
        _ = RetireAll(retiring);
        return updated;
    }

    /// <summary>Retires versions in the background (tracked for shutdown); returns when all of them are gone.</summary>
    private Task RetireAll(IEnumerable<LoadedModelVersion> versions, TimeSpan? drainTimeout = null)
    {
        var tasks = new List<Task>();
        foreach (var version in versions)
        {
            _logger.ModelVersionUnloading(version.Name, version.Version);
            var task = RetireAsync(version, drainTimeout ?? _options.UnloadDrainTimeout);
            lock (_retirements)
            {
                _retirements.Add(task);
            }

            tasks.Add(task);
        }

        return Task.WhenAll(tasks);
    }

    private async Task RetireAsync(LoadedModelVersion version, TimeSpan drainTimeout)
    {
        try
        {
            if (!await version.RetireAsync(drainTimeout, _timeProvider).ConfigureAwait(false))
            {
                _logger.DrainTimedOut(version.Name, version.Version, drainTimeout.TotalSeconds);
            }

            _logger.ModelVersionUnloaded(version.Name, version.Version);
        }
        finally
        {
            lock (_retirements)
            {
                _retirements.RemoveAll(t => t.IsCompleted);
            }
        }
    }

    private void RequireControl()
    {
        if (_options.ControlMode == ModelControlMode.None)
        {
            throw new InferenceException(InferenceError.InvalidInput, "model control mode is none");
        }
    }

    private bool ModelExistsOnDisk(string name)
    {
        try
        {
            var directory = Paths.ModelDirectory(name);
            return Directory.Exists(directory) && Paths.IsInside(directory);
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Names of the repository's model folders that are safe names and stay inside the repository.</summary>
    private IEnumerable<string> ScanModelNames()
    {
        if (!Directory.Exists(Paths.Root))
        {
            return [];
        }

        var names = new List<string>();
        foreach (var directory in SafeEnumerateDirectories(Paths.Root))
        {
            var name = Path.GetFileName(directory);
            if (name.StartsWith('.') || ModelPaths.CheckModelName(name) is not null || !Paths.IsInside(directory)
                || Generation.DecoderModelSettings.IsDecoderFolder(directory))   // decoder models are served by the generation engine
            {
                continue;
            }

            names.Add(name);
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    private IEnumerable<string> SafeEnumerateDirectories(string path)
    {
        try
        {
            return Directory.GetDirectories(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.RepositoryScanFailed(e);
            return [];
        }
    }
}
