using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Sluice.Server.Telemetry;

/// <summary>
/// Triton's GPU gauges through NVML, per device (<c>gpu_uuid</c> label): <c>nv_gpu_utilization</c>, <c>nv_gpu_memory_total_bytes</c>,
/// <c>nv_gpu_memory_used_bytes</c>, <c>nv_gpu_power_usage</c> (watts). Without NVML none of them is created: absent, not zero.
/// </summary>
public sealed class GpuMetrics : IDisposable
{
    private readonly Nvml? _nvml;

    public GpuMetrics(IMeterFactory meterFactory, ILogger<GpuMetrics> logger)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _nvml = Nvml.TryOpen(out var reason);
        if (_nvml is null)
        {
            logger.NvmlUnavailable(reason);
            return;
        }

        var meter = meterFactory.Create(InferenceMetrics.MeterName);
        meter.CreateObservableGauge("nv_gpu_utilization", () => Read(d => _nvml.Utilization(d)),
            description: "GPU utilization rate [0.0 - 1.0]");
        meter.CreateObservableGauge("nv_gpu_memory_total_bytes", () => Read(d => (double?)_nvml.Memory(d)?.Total),
            description: "GPU total memory, in bytes");
        meter.CreateObservableGauge("nv_gpu_memory_used_bytes", () => Read(d => (double?)_nvml.Memory(d)?.Used),
            description: "GPU used memory, in bytes");
        meter.CreateObservableGauge("nv_gpu_power_usage", () => Read(d => _nvml.PowerWatts(d)),
            description: "GPU power usage in watts");
    }

    /// <summary>True when NVML loaded and saw at least one GPU.</summary>
    public bool Available => _nvml is not null;

    public void Dispose() => _nvml?.Dispose();

    private IEnumerable<Measurement<double>> Read(Func<nint, double?> read)
    {
        foreach (var (handle, uuid) in _nvml!.Devices)
        {
            if (read(handle) is { } value)
            {
                yield return new Measurement<double>(value, new KeyValuePair<string, object?>("gpu_uuid", uuid));
            }
        }
    }
}
