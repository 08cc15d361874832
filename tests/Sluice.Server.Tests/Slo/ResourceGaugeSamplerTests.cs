using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Sluice.Server.Tests.TestSupport;

namespace Sluice.Server.Tests.Slo;

/// <summary>The gauge sampler inside the real server: process memory samples judged per slice, and the model's peak read
/// from its version's calibration.json (written by <c>sluice bench --calibrate</c>).</summary>
public sealed class ResourceGaugeSamplerTests
{
    private const string Spec = """
        slos:
          - name: adder-throughput
            model: adder
            objective: 95
            window: 1d
            budgeting: timeslices
            sli:
              throughput: {min_fraction_of_peak: 0.7}
          - name: adder-memory
            model: adder
            window: 1d
            budgeting: timeslices
            timeslice: 1m
            sli:
              resource: {gauge: process_memory_utilization, threshold: 99%, max_duration_above: 5m}
          - name: adder-gpu-memory
            model: adder
            window: 1d
            budgeting: timeslices
            sli:
              resource: {gauge: gpu_memory_utilization, threshold: 85%, max_duration_above: 5m}
        """;

    [Fact]
    public async Task Sampling_CalibratedModelAndProcessMemory_PeakKnownAndMemorySlicesJudgedGood()
    {
        using var workspace = new SloWorkspace().WithAddOne("adder");
        await File.WriteAllTextAsync(Path.Combine(workspace.Repository, "adder", "1", "calibration.json"),
            """{"peak_inferences_per_second": 1234.5, "batch_size": 8}""");
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var server = await SloTestServer.StartAsync(workspace.Repository, workspace.WriteSpec(Spec), workspace.DataDirectory, clock,
            samplingInterval: TimeSpan.FromSeconds(10), models: "adder");

        // :: The model became ready after the first sample: a later sample finds its calibration.
        JsonObject throughput = null!;
        await Conditions.WaitUntilAsync(() =>
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            server.Evaluate();
            throughput = server.GetSloAsync("adder-throughput").GetAwaiter().GetResult();
            return !((string?)throughput["no_data_reason"] ?? "").Contains("no peak", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(30), "the sampler set the model's peak");

        // :: Still no data (no slice under load), but for that reason, not for a missing peak.
        Assert.Equal("no_data", (string)throughput["state"]!);
        Assert.Contains("under load", (string)throughput["no_data_reason"]!);

        // :: Memory: slices with samples, far below 99%, judged good once they end.
        JsonObject memory = null!;
        await Conditions.WaitUntilAsync(() =>
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            server.Evaluate();
            memory = server.GetSloAsync("adder-memory").GetAwaiter().GetResult();
            return (long)memory["total"]! >= 2;
        }, TimeSpan.FromSeconds(30), "two memory slices were judged");
        Assert.Equal("ok", (string)memory["state"]!);
        Assert.Equal((long)memory["total"]!, (long)memory["good"]!);

        // :: No NVML on this machine: the GPU gauge is never made up.
        var gpu = await server.GetSloAsync("adder-gpu-memory");
        if (!System.Runtime.InteropServices.NativeLibrary.TryLoad("libnvidia-ml.so.1", out _))
        {
            Assert.Equal("no_data", (string)gpu["state"]!);
            Assert.Equal(0, (long)gpu["total"]!);
        }
    }
}
