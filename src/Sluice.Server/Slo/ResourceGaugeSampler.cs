using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Core.Serving;
using Sluice.Engine.Hosting;
using Sluice.Server.Telemetry;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Spec;

namespace Sluice.Server.Slo;

/// <summary>
/// Every <see cref="SloHostingSettings.SamplingInterval"/>: samples the resource gauges the SLOs use (process and machine memory
/// from <c>/proc</c>; GPU memory and utilization only where NVML exists, through telemetry's <see cref="Nvml"/>, else never),
/// and keeps each throughput SLO's model peak in step with its ready version's <c>calibration.json</c> (none: the SLO reports
/// no data).
/// </summary>
internal sealed class ResourceGaugeSampler(
    SloEvaluator evaluator,
    SloSpecSource source,
    IModelRepositoryService repository,
    IOptions<ModelRepositoryOptions> repositoryOptions,
    SloHostingSettings settings,
    ILogger<ResourceGaugeSampler> logger) : BackgroundService
{
    private const string ProcessMemory = "process_memory_utilization";
    private const string CpuMemory = "cpu_memory_utilization";
    private const string GpuMemory = "gpu_memory_utilization";
    private const string GpuUtilization = "gpu_utilization";

    /// <summary>The gauges some SLO uses; others are not sampled.</summary>
    private readonly HashSet<string> _gauges = source.Slos.Select(s => s.Sli).OfType<ResourceSli>().Select(r => r.Gauge).ToHashSet(StringComparer.Ordinal);

    /// <summary>Models with a throughput SLO.</summary>
    private readonly string[] _throughputModels = source.Slos.Where(s => s.Sli is ThroughputSli).Select(s => s.Model).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>The calibration file (and its write time) each model's peak was last read from; only this loop touches it.</summary>
    private readonly Dictionary<string, (string? Path, DateTime WrittenAt)> _calibrations = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var gpu = _gauges.Contains(GpuMemory) || _gauges.Contains(GpuUtilization) ? Nvml.TryOpen(out _) : null;
        if (gpu is not null)
        {
            logger.GpuGaugesAvailable(gpu.Devices.Count);
        }

        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                SampleOnce(gpu);
                await Task.Delay(settings.SamplingInterval, settings.Clock, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    /// <summary>One round of samples and calibration checks; never throws (a failed round is logged and the next one tried).</summary>
    internal void SampleOnce(Nvml? gpu)
    {
        try
        {
            if (_gauges.Contains(ProcessMemory) || _gauges.Contains(CpuMemory))
            {
                if (MachineMemory.Read() is { } memory)
                {
                    evaluator.RecordGauge(ProcessMemory, (double)Environment.WorkingSet / memory.TotalBytes);
                    evaluator.RecordGauge(CpuMemory, memory.UsedFraction);
                }
            }

            if (gpu is not null)
            {
                SampleGpus(gpu);
            }

            foreach (var model in _throughputModels)
            {
                RefreshPeak(model);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.GaugeSamplingFailed(e);
        }
    }

    /// <summary>The highest memory and GPU utilization over the devices; a device NVML fails to read is left out, and with none
    /// read nothing is recorded.</summary>
    private void SampleGpus(Nvml gpu)
    {
        double? memory = null, utilization = null;
        foreach (var (device, _) in gpu.Devices)
        {
            if (gpu.Memory(device) is { Total: > 0 } m)
            {
                memory = Math.Max(memory ?? 0, (double)m.Used / m.Total);
            }

            if (gpu.Utilization(device) is { } u)
            {
                utilization = Math.Max(utilization ?? 0, u);
            }
        }

        if (memory is { } memoryFraction)
        {
            evaluator.RecordGauge(GpuMemory, memoryFraction);
        }

        if (utilization is { } utilizationFraction)
        {
            evaluator.RecordGauge(GpuUtilization, utilizationFraction);
        }
    }

    /// <summary>Sets the model's peak from the calibration of its newest ready version that has one; clears it when none has.</summary>
    private void RefreshPeak(string model)
    {
        string? path = null;
        string? version = null;
        var ready = repository.GetIndex(readyOnly: true)
            .Where(e => e.Name == model)
            .OrderByDescending(e => long.TryParse(e.Version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1);
        foreach (var entry in ready)
        {
            var candidate = Path.Combine(repositoryOptions.Value.RepositoryPath, model, entry.Version, CalibrationFile.FileName);
            if (File.Exists(candidate))
            {
                path = candidate;
                version = entry.Version;
                break;
            }
        }

        var writtenAt = path is null ? default : File.GetLastWriteTimeUtc(path);
        if (_calibrations.TryGetValue(model, out var last) && last.Path == path && last.WrittenAt == writtenAt)
        {
            return;   // unchanged since the last round
        }

        _calibrations[model] = (path, writtenAt);
        double? peak = null;
        if (path is not null)
        {
            peak = CalibrationFile.ReadPeak(path, out var problem);
            if (peak is { } value)
            {
                logger.PeakSet(model, value, version!);
            }
            else
            {
                logger.CalibrationUnreadable(model, version!, problem!);
            }
        }

        evaluator.SetPeak(model, peak);
    }
}
