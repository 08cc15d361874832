using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;

namespace Sluice.Server.Telemetry;

/// <summary>
/// Host and process gauges: Triton's <c>nv_cpu_utilization</c>, <c>nv_cpu_memory_total_bytes</c> and
/// <c>nv_cpu_memory_used_bytes</c> read from <c>/proc</c> (Linux; absent elsewhere, never invented), and the process's working set
/// and managed heap.
/// </summary>
public sealed class SystemMetrics
{
    /// <summary>The last /proc/stat reading (busy, total jiffies), for utilization over the interval between collections.</summary>
    private (long Busy, long Total)? _lastCpu;
    private readonly Lock _cpuLock = new();

    public SystemMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(InferenceMetrics.MeterName);
        _lastCpu = ReadCpu();
        meter.CreateObservableGauge("nv_cpu_utilization", CpuUtilization,
            description: "CPU utilization rate [0.0 - 1.0] since the previous collection");
        meter.CreateObservableGauge("nv_cpu_memory_total_bytes", () => Memory(used: false),
            description: "CPU total memory (RAM), in bytes");
        meter.CreateObservableGauge("nv_cpu_memory_used_bytes", () => Memory(used: true),
            description: "CPU used memory (RAM: total - available), in bytes");
        meter.CreateObservableGauge("sluice_process_working_set_bytes", static () => Environment.WorkingSet,
            description: "The server process's working set (resident memory), in bytes.");
        meter.CreateObservableGauge("sluice_process_managed_heap_bytes", static () => GC.GetGCMemoryInfo().HeapSizeBytes,
            description: "The .NET managed heap size after the last garbage collection, in bytes.");
        // Runtime stalls that show up as latency tails without any model being slow: GC pauses suspend request threads, and
        // a starved thread pool delays every continuation.
        meter.CreateObservableCounter("sluice_process_gc_pause_seconds", static () => GC.GetTotalPauseDuration().TotalSeconds, unit: "s",
            description: "Total time the .NET runtime has paused the process for garbage collection, in seconds.");
        meter.CreateObservableCounter("sluice_process_gc_collections", GcCollections,
            description: "Garbage collections since the process started, by generation (a gen 2 collection also counts in 0 and 1).");
        meter.CreateObservableGauge("sluice_process_threadpool_threads", static () => ThreadPool.ThreadCount,
            description: "Threads in the .NET thread pool now.");
        meter.CreateObservableGauge("sluice_process_threadpool_queue_length", static () => ThreadPool.PendingWorkItemCount,
            description: "Work items queued to the .NET thread pool and not yet started (a growing queue means starved threads).");
    }

    private static IEnumerable<Measurement<long>> GcCollections()
    {
        for (var generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            yield return new Measurement<long>(GC.CollectionCount(generation),
                new KeyValuePair<string, object?>("generation", generation.ToString(CultureInfo.InvariantCulture)));
        }
    }

    private IEnumerable<Measurement<double>> CpuUtilization()
    {
        if (ReadCpu() is not { } now)
        {
            yield break;
        }

        double? value = null;
        lock (_cpuLock)
        {
            if (_lastCpu is { } last && now.Total > last.Total)
            {
                value = Math.Clamp((double)(now.Busy - last.Busy) / (now.Total - last.Total), 0, 1);
                _lastCpu = now;
            }
        }

        if (value is { } utilization)
        {
            yield return new Measurement<double>(utilization);
        }
    }

    private static IEnumerable<Measurement<long>> Memory(bool used)
    {
        if (ReadMemInfo() is not { } info)
        {
            yield break;
        }

        yield return new Measurement<long>(used ? info.Total - info.Available : info.Total);
    }

    /// <summary>The aggregate "cpu" line of /proc/stat: busy = total - idle - iowait.</summary>
    internal static (long Busy, long Total)? ReadCpu()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            var line = reader.ReadLine();
            return line is null ? null : ParseCpuLine(line);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal static (long Busy, long Total)? ParseCpuLine(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 5 || parts[0] != "cpu")
        {
            return null;
        }

        long total = 0;
        var values = new long[parts.Length - 1];
        for (var i = 1; i < parts.Length; i++)
        {
            values[i - 1] = long.Parse(parts[i], CultureInfo.InvariantCulture);
        }

        // user nice system idle iowait irq softirq steal [guest guest_nice — already counted in user/nice]
        for (var i = 0; i < Math.Min(values.Length, 8); i++)
        {
            total += values[i];
        }

        var idle = values[3] + (values.Length > 4 ? values[4] : 0);
        return (total - idle, total);
    }

    /// <summary>MemTotal and MemAvailable from /proc/meminfo, in bytes.</summary>
    internal static (long Total, long Available)? ReadMemInfo()
    {
        try
        {
            long? total = null, available = null;
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                {
                    total = KiB(line);
                }
                else if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                {
                    available = KiB(line);
                }
            }

            return total is { } t && available is { } a ? (t, a) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        static long KiB(string line) =>
            long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}
