using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sluice.Bench.Calibration;

/// <summary>A model's measured peak, stored beside the model as <c>&lt;repo&gt;/&lt;model&gt;/&lt;version&gt;/calibration.json</c>.</summary>
/// <param name="PeakInferencesPerSecond">The best inferences/s of the saturating sweep.</param>
/// <param name="ConcurrencyAtPeak">The closed-loop concurrency that reached it.</param>
/// <param name="BatchSize">Inferences per request during the sweep.</param>
/// <param name="MeasuredAt">When (UTC).</param>
/// <param name="Hardware">The hardware fingerprint id of the machine it was measured on.</param>
/// <param name="SluiceVersion">The version of sluice that measured it.</param>
public sealed record CalibrationRecord(double PeakInferencesPerSecond, int ConcurrencyAtPeak, int BatchSize, DateTimeOffset MeasuredAt, string Hardware, string SluiceVersion)
{
    /// <summary>The file name inside the version folder.</summary>
    public const string FileName = "calibration.json";

    /// <summary>The JSON text (snake_case fields, <c>measured_at</c> as UTC ISO 8601).</summary>
    public string ToJson()
    {
        var node = new JsonObject
        {
            ["peak_inferences_per_second"] = Math.Round(PeakInferencesPerSecond, 3),
            ["concurrency_at_peak"] = ConcurrencyAtPeak,
            ["batch_size"] = BatchSize,
            ["measured_at"] = MeasuredAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["hardware"] = Hardware,
            ["sluice_version"] = SluiceVersion,
        };
        return node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>Writes the record to <c>&lt;repository&gt;/&lt;model&gt;/&lt;version&gt;/calibration.json</c> (atomically: temp file, then rename).</summary>
    /// <returns>The path written.</returns>
    public string WriteTo(string repository, string model, string version)
    {
        ArgumentException.ThrowIfNullOrEmpty(repository);
        if (model.Contains('/') || model.Contains('\\') || model is "." or ".." || version.Contains('/') || version.Contains('\\') || version is "." or "..")
        {
            throw new ArgumentException($"model '{model}' / version '{version}' is not a plain folder name");
        }

        var folder = Path.Combine(repository, model, version);
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"model version folder {model}/{version} does not exist in the repository");
        }

        var path = Path.Combine(folder, FileName);
        var temp = path + ".tmp";
        File.WriteAllText(temp, ToJson());
        File.Move(temp, path, overwrite: true);
        return path;
    }

    /// <summary>Reads a calibration file written by <see cref="ToJson"/>.</summary>
    public static CalibrationRecord Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        return new CalibrationRecord(
            root.GetProperty("peak_inferences_per_second").GetDouble(),
            root.GetProperty("concurrency_at_peak").GetInt32(),
            root.GetProperty("batch_size").GetInt32(),
            DateTimeOffset.Parse(root.GetProperty("measured_at").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
            root.GetProperty("hardware").GetString() ?? "",
            root.GetProperty("sluice_version").GetString() ?? "");
    }
}
