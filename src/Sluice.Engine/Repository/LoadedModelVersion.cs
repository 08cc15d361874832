using System.Globalization;
using Sluice.Core.Configuration;
using Sluice.Core.Runtime;
using Sluice.Engine.Scheduling;
using Sluice.Engine.Statistics;
using Sluice.Engine.Validation;

namespace Sluice.Engine.Repository;

/// <summary>
/// One loaded, warmed-up model version taking traffic: its completed config, request validator, batching loop with its runner
/// instances, counters and statistics. Immutable apart from the admission gate, which lets a replaced version drain: after
/// <see cref="RetireAsync"/> begins, <see cref="TryAdmit"/> refuses new requests (callers then pick the replacement), and the
/// runners are disposed only once every admitted request has finished.
/// </summary>
internal sealed class LoadedModelVersion
{
    /// <summary>Requests admitted and not yet finished. Any thread.</summary>
    private long _active;

    /// <summary>1 once retiring began. Any thread.</summary>
    private int _retiring;

    /// <summary>Completed when retiring began and <see cref="_active"/> reached zero.</summary>
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The runner instances, disposed after the loop stopped.</summary>
    private readonly IReadOnlyList<IModelRunner> _runners;

    public LoadedModelVersion(
        string name, long version, ModelConfig config, VersionFingerprint fingerprint, IReadOnlyList<IModelRunner> runners,
        BatchingLoop loop, RequestCounters counters, VersionStatistics statistics, Sluice.Onnx.Build.ShapeProfile? shapeProfile = null)
    {
        Name = name;
        Version = version;
        VersionText = version.ToString(CultureInfo.InvariantCulture);
        Config = config;
        Fingerprint = fingerprint;
        _runners = runners;
        Loop = loop;
        Counters = counters;
        Statistics = statistics;
        Validator = new RequestValidator(config, shapeProfile);
    }

    public string Name { get; }
    public long Version { get; }
    public string VersionText { get; }

    /// <summary>The completed, validated configuration.</summary>
    public ModelConfig Config { get; }

    /// <summary>What the files looked like when loaded, so a poll can tell whether they changed.</summary>
    public VersionFingerprint Fingerprint { get; }

    public RequestValidator Validator { get; }
    public BatchingLoop Loop { get; }
    public RequestCounters Counters { get; }
    public VersionStatistics Statistics { get; }

    /// <summary>True once retiring began.</summary>
    public bool IsRetiring => Volatile.Read(ref _retiring) == 1;

    /// <summary>Admits one request unless retiring; pair every true with <see cref="Release"/>.</summary>
    public bool TryAdmit()
    {
        Interlocked.Increment(ref _active);
        if (IsRetiring)
        {
            Release();
            return false;
        }

        return true;
    }

    /// <summary>Marks one admitted request finished.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref _active) == 0 && IsRetiring)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>
    /// Stops admitting, waits (up to <paramref name="drainTimeout"/>) for admitted requests to finish normally, stops the loop and
    /// disposes the runners. Returns false when the timeout cut the drain short.
    /// </summary>
    public async Task<bool> RetireAsync(TimeSpan drainTimeout, TimeProvider timeProvider)
    {
        if (Interlocked.Exchange(ref _retiring, 1) == 0 && Interlocked.Read(ref _active) == 0)
        {
            _drained.TrySetResult();
        }

        var start = timeProvider.GetTimestamp();
        var drained = true;
        try
        {
            await _drained.Task.WaitAsync(drainTimeout, timeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            drained = false;
        }

        var left = drainTimeout - timeProvider.GetElapsedTime(start);
        drained &= await Loop.StopAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero).ConfigureAwait(false);
        await Loop.DisposeAsync().ConfigureAwait(false);
        foreach (var runner in _runners)
        {
            runner.Dispose();
        }

        return drained;
    }
}

/// <summary>Sizes and write times of the files a version was loaded from; a change triggers a reload in poll mode.</summary>
internal readonly record struct VersionFingerprint(long ConfigLength, DateTime ConfigWritten, long ModelLength, DateTime ModelWritten)
{
    public static VersionFingerprint Of(string? configPath, string modelPath)
    {
        var config = configPath is null ? null : new FileInfo(configPath);
        var model = new FileInfo(modelPath);
        return new VersionFingerprint(
            config is { Exists: true } ? config.Length : -1,
            config is { Exists: true } ? config.LastWriteTimeUtc : default,
            model.Exists ? model.Length : -1,
            model.Exists ? model.LastWriteTimeUtc : default);
    }
}
