using Sluice.Engine.Telemetry;

namespace Sluice.Engine.Hosting;

public sealed partial class ModelManager
{
    /// <summary>
    /// The live load of every ready model version: queue depth and in-flight requests, read from the current snapshot without
    /// locks. Telemetry reads it at each collection (observable gauges); cheap enough to call once per scrape.
    /// </summary>
    public IReadOnlyList<ModelVersionLoad> GetLoad()
    {
        var state = State;
        var load = new List<ModelVersionLoad>();
        foreach (var entry in state.Models.Values)
        {
            foreach (var version in entry.Ready.Values)
            {
                var counts = version.Counters.Snapshot();
                load.Add(new ModelVersionLoad(
                    version.Name, version.VersionText, version.Loop.QueuedCount, counts.InFlight, version.Config.MaxBatchSize,
                    version.Loop.ExpectedQueueWait));
            }
        }

        return load;
    }
}

public sealed partial class ModelManager
{
    /// <summary>
    /// The version text a request for (<paramref name="name"/>, <paramref name="version"/>) is labelled with: the asked-for version
    /// when it is loaded, the model's current version when none was asked for; null when the model (version) is not loaded.
    /// Lock-free and allocation-free: telemetry calls it once per request.
    /// </summary>
    public string? ResolveLoadedVersion(string name, string? version)
    {
        if (!State.Models.TryGetValue(name, out var entry))
        {
            return null;
        }

        if (string.IsNullOrEmpty(version))
        {
            return entry.Latest?.VersionText;
        }

        return long.TryParse(version, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
            && entry.Ready.TryGetValue(number, out var loaded) ? loaded.VersionText : null;
    }

    /// <summary>The model file and completed config of a loaded version (the current one when <paramref name="version"/> is null);
    /// null when not loaded. For profiling, which opens its own session on the same file.</summary>
    public (string ModelPath, Sluice.Core.Configuration.ModelConfig Config, string Version)? GetLoadedModelFile(string name, string? version)
    {
        if (!State.Models.TryGetValue(name, out var entry))
        {
            return null;
        }

        var loaded = string.IsNullOrEmpty(version)
            ? entry.Latest
            : long.TryParse(version, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number)
                && entry.Ready.TryGetValue(number, out var found) ? found : null;
        if (loaded is null)
        {
            return null;
        }

        var path = Path.Combine(_options.RepositoryPath, loaded.Name, loaded.VersionText, loaded.Config.DefaultModelFilename);
        return (path, loaded.Config, loaded.VersionText);
    }
}
