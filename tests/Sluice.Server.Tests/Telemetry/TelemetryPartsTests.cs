using Sluice.Core.Inference;
using Sluice.Server.Telemetry;

namespace Sluice.Server.Tests.Telemetry;

/// <summary>The small pure parts: bucket boundaries, Triton failure reasons, calibration and /proc parsing.</summary>
public sealed class TelemetryPartsTests
{
    [Fact]
    public void Build_SloThresholdsAndExtras_AllBoundariesSortedOnce()
    {
        var buckets = LatencyBuckets.Build([0.05, 0.3], [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(120), TimeSpan.FromMilliseconds(7)]);

        Assert.Contains(0.05, buckets);
        Assert.Contains(0.3, buckets);
        Assert.Contains(0.12, buckets);
        Assert.Contains(0.007, buckets);
        Assert.Equal(buckets.Order(), buckets);
        Assert.Equal(buckets.Distinct().Count(), buckets.Length);
        Assert.Equal(LatencyBuckets.Defaults.Count + 3, buckets.Length);
    }

    public static TheoryData<InferenceError, string> Reasons => new()
    {
        { InferenceError.None, "OTHER" },
        { InferenceError.InvalidInput, "OTHER" },
        { InferenceError.ModelNotFound, "OTHER" },
        { InferenceError.ModelNotReady, "REJECTED" },
        { InferenceError.PayloadTooLarge, "OTHER" },
        { InferenceError.QueueFull, "REJECTED" },
        { InferenceError.QueueTimeout, "REJECTED" },
        { InferenceError.Draining, "REJECTED" },
        { InferenceError.Canceled, "CANCELED" },
        { InferenceError.Unauthorized, "OTHER" },
        { InferenceError.LoadFailed, "OTHER" },
        { InferenceError.RuntimeFailure, "BACKEND" },
    };

    [Theory]
    [MemberData(nameof(Reasons))]
    public void Of_EveryError_TritonReason(InferenceError error, string reason) =>
        Assert.Equal(reason, FailureReasons.Labels[FailureReasons.Of(error)]);

    [Fact]
    public void Reasons_CoverEveryErrorMember() =>
        Assert.Equal(Enum.GetValues<InferenceError>().Order(), Reasons.Select(r => (InferenceError)r[0]).Order());

    [Theory]
    [InlineData("""{"peak_inferences_per_second": 123.4, "hardware": "h100-abc"}""", 123.4, "h100-abc")]
    [InlineData("""{"peak_inferences_per_second": 5}""", 5.0, "unknown")]
    public void Parse_ValidCalibration_PeakAndHardware(string json, double peak, string hardware) =>
        Assert.Equal(new Calibration(peak, hardware), Calibration.Parse(json));

    [Theory]
    [InlineData("""{"hardware": "x"}""")]
    [InlineData("""{"peak_inferences_per_second": 0}""")]
    [InlineData("""{"peak_inferences_per_second": "fast"}""")]
    [InlineData("""[1]""")]
    public void Parse_NoUsablePeak_Null(string json) => Assert.Null(Calibration.Parse(json));

    [Fact]
    public void ParseCpuLine_ProcStat_BusyExcludesIdleAndIowait()
    {
        // user nice system idle iowait irq softirq steal guest guest_nice
        var cpu = SystemMetrics.ParseCpuLine("cpu  100 5 50 800 40 3 2 0 7 0");

        Assert.Equal((100 + 5 + 50 + 3 + 2 + 0, 100 + 5 + 50 + 800 + 40 + 3 + 2 + 0), cpu);
    }
}
