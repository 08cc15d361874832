using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Engine.Hosting;

namespace Sluice.Server.Telemetry;

/// <summary>
/// <c>sluice_model_peak_inferences_per_second{model,version,hardware}</c>: the peak a model version reached when calibrated
/// (<c>sluice bench --calibrate</c> writes <c>&lt;repo&gt;/&lt;model&gt;/&lt;version&gt;/calibration.json</c>). Absent until
/// measured: a version without the file, or with an unreadable one, reports nothing.
/// </summary>
public sealed class PeakMetrics
{
    /// <summary>The calibration file's name inside a version folder.</summary>
    public const string CalibrationFileName = "calibration.json";

    private readonly LoadedModels _loaded;
    private readonly string _repository;
    private readonly ILogger<PeakMetrics> _logger;

    /// <summary>Parsed calibrations by path, with the write time they were read at, so a scrape costs one stat per version.</summary>
    private readonly ConcurrentDictionary<string, (DateTime Written, Calibration? Value)> _cache = new(StringComparer.Ordinal);

    public PeakMetrics(IMeterFactory meterFactory, LoadedModels models, IOptions<ModelRepositoryOptions> repository, ILogger<PeakMetrics> logger)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _loaded = models;
        _repository = repository.Value.RepositoryPath;
        _logger = logger;
        meterFactory.Create(InferenceMetrics.MeterName).CreateObservableGauge("sluice_model_peak_inferences_per_second", Read,
            description: "Peak inferences per second measured by calibration on the named hardware; absent until measured.");
    }

    /// <summary>A version's calibration as the file states it, or null.</summary>
    public Calibration? Get(string model, string version)
    {
        var path = Path.Combine(_repository, model, version, CalibrationFileName);
        DateTime written;
        try
        {
            if (!File.Exists(path))
            {
                return null;
            }

            written = File.GetLastWriteTimeUtc(path);
        }
        catch (IOException)
        {
            return null;
        }

        if (_cache.TryGetValue(path, out var cached) && cached.Written == written)
        {
            return cached.Value;
        }

        Calibration? value = null;
        try
        {
            value = Calibration.Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or FormatException)
        {
            _logger.CalibrationUnreadable(model, version, e.Message);
        }

        _cache[path] = (written, value);
        return value;
    }

    private IEnumerable<Measurement<double>> Read()
    {
        foreach (var load in _loaded.Models.GetLoad())
        {
            if (Get(load.ModelName, load.ModelVersion) is { } calibration)
            {
                yield return new Measurement<double>(calibration.PeakInferencesPerSecond,
                    new("hardware", calibration.Hardware), new("model", load.ModelName), new("version", load.ModelVersion));
            }
        }
    }
}

/// <summary>What telemetry reads of a calibration file.</summary>
/// <param name="PeakInferencesPerSecond">The measured peak.</param>
/// <param name="Hardware">The hardware fingerprint id it was measured on.</param>
public sealed record Calibration(double PeakInferencesPerSecond, string Hardware)
{
    /// <summary>Parses <c>{"peak_inferences_per_second": 123.4, "hardware": "...", ...}</c>; null when the peak is missing or not positive.</summary>
    public static Calibration? Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object
            || !root.TryGetProperty("peak_inferences_per_second", out var peak) || peak.ValueKind != JsonValueKind.Number
            || peak.GetDouble() is not (> 0 and var value) || !double.IsFinite(value))
        {
            return null;
        }

        var hardware = root.TryGetProperty("hardware", out var h) && h.ValueKind == JsonValueKind.String ? h.GetString()! : "unknown";
        return new Calibration(value, hardware);
    }
}
