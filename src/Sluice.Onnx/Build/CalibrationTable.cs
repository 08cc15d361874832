using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sluice.Onnx.Build;

/// <summary>How activation ranges are chosen from the representative data.</summary>
public enum CalibrationMethod
{
    /// <summary>The smallest and largest value seen.</summary>
    MinMax,
    /// <summary>The range covering a percentile (e.g. 99.999) of absolute values; clips rare outliers.</summary>
    Percentile,
    /// <summary>The clipping threshold that minimises the KL divergence between the FP32 and the INT8 histograms (TensorRT's method).</summary>
    Entropy,
}

/// <summary>The range of one activation tensor.</summary>
public sealed record TensorRange(float Min, float Max);

/// <summary>
/// Activation ranges from a calibration run, written next to the engine (<c>calibration_table.json</c>) and readable again
/// with <c>--calibration-table</c>, so a rebuild skips calibration.
/// </summary>
public sealed record CalibrationTable
{
    public required string Method { get; init; }

    public double? Percentile { get; init; }

    public int Samples { get; init; }

    /// <summary>SHA-256 of the source model the ranges were measured on.</summary>
    public string? SourceSha256 { get; init; }

    public required SortedDictionary<string, TensorRange> Ranges { get; init; }

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public void Write(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, s_json));

    public static CalibrationTable Read(string path)
    {
        var table = JsonSerializer.Deserialize<CalibrationTable>(File.ReadAllText(path), s_json);
        return table ?? throw new InvalidDataException($"{Path.GetFileName(path)} is not a calibration table.");
    }

    /// <summary>A copy with every range multiplied by <paramref name="factor"/>.</summary>
    public CalibrationTable Scaled(float factor) => this with
    {
        Ranges = new SortedDictionary<string, TensorRange>(
            Ranges.ToDictionary(r => r.Key, r => new TensorRange(r.Value.Min * factor, r.Value.Max * factor)), StringComparer.Ordinal),
    };

    /// <summary>Parses <c>minmax</c>, <c>percentile</c> or <c>entropy</c>.</summary>
    public static CalibrationMethod ParseMethod(string name) => name.Trim().ToLowerInvariant() switch
    {
        "minmax" or "min-max" or "max" => CalibrationMethod.MinMax,
        "percentile" => CalibrationMethod.Percentile,
        "entropy" or "kl" => CalibrationMethod.Entropy,
        _ => throw new ArgumentException($"Calibration method '{name}' is not one of minmax, percentile, entropy."),
    };

    public static string Name(CalibrationMethod method) => method switch
    {
        CalibrationMethod.Percentile => "percentile",
        CalibrationMethod.Entropy => "entropy",
        _ => "minmax",
    };
}
