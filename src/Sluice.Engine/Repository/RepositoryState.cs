using System.Collections.Frozen;

namespace Sluice.Engine.Repository;

/// <summary>The repository as requests see it: an immutable snapshot, replaced whole (never mutated) on every load or unload.</summary>
internal sealed class RepositoryState(FrozenDictionary<string, ModelEntry> models)
{
    public static RepositoryState Empty { get; } = new(FrozenDictionary<string, ModelEntry>.Empty);

    /// <summary>Models by name.</summary>
    public FrozenDictionary<string, ModelEntry> Models { get; } = models;

    /// <summary>A copy with one model replaced, added, or (when <paramref name="entry"/> is null) removed.</summary>
    public RepositoryState With(string name, ModelEntry? entry)
    {
        var models = new Dictionary<string, ModelEntry>(Models, StringComparer.Ordinal);
        if (entry is null)
        {
            models.Remove(name);
        }
        else
        {
            models[name] = entry;
        }

        return new RepositoryState(models.ToFrozenDictionary(StringComparer.Ordinal));
    }
}

/// <summary>One model: its ready versions and the versions (or whole-model problems) that failed to load, with reasons.</summary>
internal sealed class ModelEntry(string name, IReadOnlyDictionary<long, LoadedModelVersion> ready, IReadOnlyDictionary<long, VersionFailure> failed)
{
    /// <summary>Key in <see cref="Failed"/> for a problem of the whole model (its config), not of one version.</summary>
    public const long ModelLevel = -1;

    public string Name { get; } = name;

    /// <summary>Loaded versions taking traffic.</summary>
    public IReadOnlyDictionary<long, LoadedModelVersion> Ready { get; } = ready;

    /// <summary>Versions that failed to load, and why.</summary>
    public IReadOnlyDictionary<long, VersionFailure> Failed { get; } = failed;

    /// <summary>The highest ready version, or null.</summary>
    public LoadedModelVersion? Latest { get; } = ready.Count == 0 ? null : ready.MaxBy(p => p.Key).Value;
}

/// <summary>Why a version failed to load (client-safe: no absolute paths), and the files it was tried with.</summary>
internal sealed record VersionFailure(string Reason, VersionFingerprint Fingerprint);
