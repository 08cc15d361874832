using System.Text.Json;
using Sluice.Bench.Clients;
using Sluice.Bench.Load;
using Sluice.Bench.Measurement;
using Sluice.Bench.Reporting;

namespace Sluice.Bench.Tests.Measurement;

/// <summary>Failed requests: counted by status, and how long their clients waited to learn of the failure.</summary>
public sealed class WindowRecorderTests
{
    [Fact]
    public void Record_Failures_CountedByStatusWithTheirOwnLatencies()
    {
        var recorder = new WindowRecorder();
        recorder.Record(new InferOutcome(true, "200", null), 2_000);
        recorder.Record(InferOutcome.Failed("503"), 5_000_000);
        recorder.Record(InferOutcome.Failed("503"), 4_000);
        var other = new WindowRecorder();
        other.Record(InferOutcome.Failed("400"), 1_000);

        recorder.Add(other);

        Assert.Equal(1, recorder.Successes);
        Assert.Equal([("400", 1L), ("503", 2L)], recorder.Errors.OrderBy(e => e.Key).Select(e => (e.Key, e.Value)));
        Assert.Equal(1, recorder.Client.Count);   // failures stay out of the success percentiles
        Assert.Equal(3, recorder.ErrorLatency.Count);
        Assert.InRange(recorder.ErrorLatency.Percentile(50), 3_990, 4_010);
        Assert.InRange(recorder.ErrorLatency.Max, 4_990_000, 5_010_000);
    }

    [Fact]
    public void Report_StepWithFailures_CsvAndJsonCarryTheFailureLatency()
    {
        var recorder = new WindowRecorder();
        recorder.Record(new InferOutcome(true, "200", null), 2_000);
        recorder.Record(InferOutcome.Failed("503"), 3_000);
        var step = new StepResult
        {
            Level = LoadLevel.Open(100), Recorder = recorder, Elapsed = TimeSpan.FromSeconds(1), Trials = 1, Stable = true,
            InferencesPerRequest = 1,
        };
        var report = new BenchReport { Target = "http://x", Protocol = "http", Model = "m", Mode = "sweep", Steps = [step] };

        var csv = ReportWriter.ToCsv(report).Split('\n');
        var header = csv[0].Split(',');
        var row = csv[1].Split(',');
        Assert.Equal(3, double.Parse(row[Array.IndexOf(header, "failure_p50_ms")], System.Globalization.CultureInfo.InvariantCulture), 2);   // HdrHistogram: 3 significant digits
        using var json = JsonDocument.Parse(ReportWriter.ToJson(report));
        Assert.Equal(3, json.RootElement.GetProperty("steps")[0].GetProperty("failure_latency_ms").GetProperty("p50").GetDouble(), 2);
    }
}
