using System.Globalization;

namespace Sluice.Bench.Load;

/// <summary>
/// A list of load levels (concurrencies or request rates) written as perf_analyzer-style ranges:
/// <c>8</c>, <c>1,2,8</c>, <c>1:64:x2</c> (geometric), <c>10:100:+10</c> or <c>10:100:10</c> (arithmetic), <c>1:4</c> (step 1).
/// </summary>
public static class LoadSweep
{
    /// <summary>The most levels a sweep may expand to.</summary>
    public const int MaxLevels = 1000;

    /// <summary>Parses <paramref name="text"/> into ascending levels, each &gt; 0; <paramref name="error"/> names what is wrong otherwise.</summary>
    public static bool TryParse(string? text, out IReadOnlyList<double> levels, out string? error)
    {
        levels = [];
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "is empty";
            return false;
        }

        var result = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!TryParseRange(part, result, out error))
            {
                return false;
            }
        }

        levels = result.Distinct().Order().ToArray();
        return true;
    }

    private static bool TryParseRange(string part, List<double> into, out string? error)
    {
        error = null;
        var pieces = part.Split(':', StringSplitOptions.TrimEntries);
        if (pieces.Length is < 1 or > 3)
        {
            error = $"'{part}' is not a level or a range start:end[:step]";
            return false;
        }

        if (!TryNumber(pieces[0], out var start) || start <= 0)
        {
            error = $"'{pieces[0]}' is not a positive number";
            return false;
        }

        if (pieces.Length == 1)
        {
            into.Add(start);
            return true;
        }

        if (!TryNumber(pieces[1], out var end) || end < start)
        {
            error = $"'{pieces[1]}' is not a number at least the start {Format(start)}";
            return false;
        }

        var step = pieces.Length == 3 ? pieces[2] : "1";
        bool geometric = step.StartsWith('x') || step.StartsWith('*');
        var stepText = geometric || step.StartsWith('+') ? step[1..] : step;
        if (!TryNumber(stepText, out var by) || (geometric ? by <= 1 : by <= 0))
        {
            error = geometric ? $"the factor in '{step}' must be above 1" : $"the step in '{step}' must be above 0";
            return false;
        }

        for (double level = start; level <= end * (1 + 1e-9); level = geometric ? level * by : level + by)
        {
            if (into.Count >= MaxLevels)
            {
                error = $"'{part}' expands to more than {MaxLevels} levels";
                return false;
            }

            into.Add(Math.Round(level, 6));
        }

        return true;
    }

    private static bool TryNumber(string text, out double value) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);

    /// <summary>Formats a level without trailing zeros (8, 12.5).</summary>
    public static string Format(double level) => level.ToString("0.###", CultureInfo.InvariantCulture);
}
