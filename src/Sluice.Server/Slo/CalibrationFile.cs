using System.Text.Json;

namespace Sluice.Server.Slo;

/// <summary>
/// A model version's measured peak, <c>&lt;repo&gt;/&lt;model&gt;/&lt;version&gt;/calibration.json</c> written by
/// <c>sluice bench --calibrate</c>: <c>{"peak_inferences_per_second": 812.5, ...}</c>.
/// </summary>
internal static class CalibrationFile
{
    public const string FileName = "calibration.json";

    public const string PeakField = "peak_inferences_per_second";

    /// <summary>Reads the peak; null with a reason when the file is unreadable, not JSON, or lacks a positive finite peak.</summary>
    public static double? ReadPeak(string path, out string? problem)
    {
        problem = null;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (document.RootElement.ValueKind == JsonValueKind.Object &&
                document.RootElement.TryGetProperty(PeakField, out var peak) &&
                peak.ValueKind == JsonValueKind.Number &&
                peak.TryGetDouble(out var value) && double.IsFinite(value) && value > 0)
            {
                return value;
            }

            problem = $"field '{PeakField}' is missing or not a positive number";
        }
        catch (JsonException)
        {
            problem = "not valid JSON";
        }
        catch (IOException)
        {
            problem = "the file cannot be read";
        }
        catch (UnauthorizedAccessException)
        {
            problem = "access denied";
        }

        return null;
    }
}
