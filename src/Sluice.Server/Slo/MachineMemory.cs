using System.Globalization;

namespace Sluice.Server.Slo;

/// <summary>The machine's memory from <c>/proc/meminfo</c> (Linux); bytes.</summary>
/// <param name="TotalBytes">MemTotal.</param>
/// <param name="AvailableBytes">MemAvailable.</param>
internal readonly record struct MachineMemory(long TotalBytes, long AvailableBytes)
{
    /// <summary>Used share of the machine's memory (what is not available), 0..1.</summary>
    public double UsedFraction => 1 - ((double)AvailableBytes / TotalBytes);

    /// <summary>Reads <c>/proc/meminfo</c>; null where it does not exist or lacks the fields.</summary>
    public static MachineMemory? Read(string path = "/proc/meminfo")
    {
        try
        {
            return File.Exists(path) ? Parse(File.ReadAllText(path)) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Parses meminfo text (<c>MemTotal:       16318452 kB</c> lines); null when a field is missing or zero.</summary>
    public static MachineMemory? Parse(string meminfo)
    {
        long total = 0, available = 0;
        foreach (var line in meminfo.AsSpan().EnumerateLines())
        {
            if (line.StartsWith("MemTotal:"))
            {
                total = Kilobytes(line["MemTotal:".Length..]);
            }
            else if (line.StartsWith("MemAvailable:"))
            {
                available = Kilobytes(line["MemAvailable:".Length..]);
            }
        }

        return total > 0 && available >= 0 && available <= total ? new MachineMemory(total, available) : null;
    }

    private static long Kilobytes(ReadOnlySpan<char> value)
    {
        value = value.Trim();
        if (value.EndsWith("kB"))
        {
            value = value[..^2].TrimEnd();
        }

        return long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb * 1024 : 0;
    }
}
