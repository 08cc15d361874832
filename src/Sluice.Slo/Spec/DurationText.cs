using System.Globalization;
using System.Text;

namespace Sluice.Slo.Spec;

/// <summary>Prometheus-style durations ("50ms", "5m", "1h30m", "30d", "1w"): parse and format.</summary>
public static class DurationText
{
    /// <summary>Parses a non-empty sequence of number+unit pairs (units ms, s, m, h, d, w); numbers may be decimal.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var span = text.AsSpan().Trim();
        double totalMs = 0;
        while (!span.IsEmpty)
        {
            int numberEnd = 0;
            while (numberEnd < span.Length && (char.IsAsciiDigit(span[numberEnd]) || span[numberEnd] == '.'))
            {
                numberEnd++;
            }

            int unitEnd = numberEnd;
            while (unitEnd < span.Length && char.IsAsciiLetter(span[unitEnd]))
            {
                unitEnd++;
            }

            if (numberEnd == 0 || unitEnd == numberEnd ||
                !double.TryParse(span[..numberEnd], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            double unitMs = span[numberEnd..unitEnd] switch
            {
                "ms" => 1,
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                "w" => 604_800_000,
                _ => double.NaN,
            };
            if (double.IsNaN(unitMs))
            {
                return false;
            }

            totalMs += number * unitMs;
            span = span[unitEnd..];
        }

        value = TimeSpan.FromMilliseconds(totalMs);
        return true;
    }

    /// <summary>Formats as Prometheus does in range selectors: the largest units first, e.g. "30d", "1h30m", "50ms".</summary>
    public static string Format(TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            return "0s";
        }

        var builder = new StringBuilder();
        long ms = (long)Math.Round(value.TotalMilliseconds);
        Append(ref ms, 86_400_000, "d");
        Append(ref ms, 3_600_000, "h");
        Append(ref ms, 60_000, "m");
        Append(ref ms, 1000, "s");
        Append(ref ms, 1, "ms");
        return builder.ToString();

        void Append(ref long remaining, long unit, string suffix)
        {
            if (remaining >= unit)
            {
                builder.Append(CultureInfo.InvariantCulture, $"{remaining / unit}{suffix}");
                remaining %= unit;
            }
        }
    }
}
