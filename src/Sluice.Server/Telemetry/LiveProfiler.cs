using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Core.Serving;
using Sluice.Engine.Hosting;
using Sluice.Engine.Profiling;
using Sluice.Server.Hosting;

namespace Sluice.Server.Telemetry;

/// <summary>
/// Sampled live per-layer profiling: every <see cref="SluiceServerOptions.ProfileSampleRate"/>-th batch of a model starts a
/// profile of that model on a shadow session of its own (never a serving instance), with the inputs of recent requests, in the
/// background; at most one per model at a time, so a slow profile skips samples rather than piling up. The latest result is
/// exported as <c>sluice_layer_duration_seconds{model,version,node,op_type}</c> (mean kernel time) for the top nodes only.
/// </summary>
public sealed class LiveProfiler
{
    /// <summary>How many nodes per model are exported (bounded cardinality).</summary>
    public const int TopNodes = 10;

    private readonly int _sampleRate;
    private readonly LoadedModels _loaded;
    private readonly RecentInputs _recent;
    private readonly ILogger<LiveProfiler> _logger;
    private readonly ConcurrentDictionary<(string Model, string Version), State> _states = new();

    public LiveProfiler(IMeterFactory meterFactory, LoadedModels models, RecentInputs recent, IOptions<SluiceServerOptions> options, ILogger<LiveProfiler> logger)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _sampleRate = options.Value.ProfileSampleRate;
        _loaded = models;
        _recent = recent;
        _logger = logger;
        meterFactory.Create(InferenceMetrics.MeterName).CreateObservableGauge("sluice_layer_duration", Read, unit: "s",
            description: "Mean kernel time of the slowest nodes in the latest sampled live profile.");
    }

    /// <summary>Profiles completed so far (for tests and logs).</summary>
    public int CompletedProfiles => _states.Values.Sum(s => s.Completed);

    /// <summary>Counts a batch; every N-th starts a background profile unless one runs for this model.</summary>
    public void BatchExecuted(in BatchExecution execution)
    {
        if (_sampleRate <= 0)
        {
            return;
        }

        var state = _states.GetOrAdd((execution.ModelName, execution.ModelVersion), static _ => new State());
        if (Interlocked.Increment(ref state.Batches) % _sampleRate != 0 || Interlocked.CompareExchange(ref state.Running, 1, 0) != 0)
        {
            return;
        }

        var (model, version) = (execution.ModelName, execution.ModelVersion);
        _ = Task.Run(() => Sample(model, version, state));
    }

    private void Sample(string model, string version, State state)
    {
        try
        {
            if (_loaded.Models.GetLoadedModelFile(model, version) is not { } file)
            {
                return;
            }

            var provider = file.Config.Execution.ExecutionProvider ?? _loaded.Models.Options.Device;
            var report = ModelProfiler.Profile(model, version, file.ModelPath, file.Config, provider, _recent.Get(model),
                new ProfileSettings(Runs: 3, WarmupRuns: 1, Top: TopNodes), CancellationToken.None);
            Volatile.Write(ref state.Latest, report);
            Interlocked.Increment(ref state.Completed);
        }
        catch (Exception e)
        {
            _logger.LiveProfileFailed(model, e);
        }
        finally
        {
            Volatile.Write(ref state.Running, 0);
        }
    }

    private IEnumerable<Measurement<double>> Read()
    {
        foreach (var ((model, version), state) in _states)
        {
            if (Volatile.Read(ref state.Latest) is not { } report)
            {
                continue;
            }

            foreach (var node in report.Profile.Nodes.Take(TopNodes))
            {
                yield return new Measurement<double>(node.MeanMicroseconds / 1e6,
                    new("model", model), new("node", node.Name), new("op_type", node.OpType), new("version", version));
            }
        }
    }

    private sealed class State
    {
        public long Batches;
        public int Running;
        public int Completed;
        public ModelProfileReport? Latest;
    }
}
