using Sluice.Slo.Spec;

namespace Sluice.Slo.Tests.Spec;

public sealed class ExampleSpecTests
{
    internal static string ExamplePath
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Sluice.sln")))
            {
                directory = directory.Parent;
            }

            // Builds with SLUICE_ARTIFACTS put the binaries outside the tree: fall back to the source path of this file.
            var root = directory?.FullName ?? FindFromSource();
            return Path.Combine(root, "examples", "slo.yaml");
        }
    }

    [Fact]
    public void LoadFiles_DefaultSpec_IsValidWithTheIssuesThreeObjectives()
    {
        var set = SloSpecLoader.LoadFiles([ExamplePath], knownModels: ["minilm", "tiny-llama"]);

        Assert.True(set.IsValid, string.Join("\n", set.Errors));
        var latency = Assert.Single(set.Slos, s => s.Sli is LatencySli);
        Assert.Equal(0.999, latency.Objective, 12);
        Assert.Equal(new LatencySli(LatencyPhase.Compute, TimeSpan.FromMilliseconds(50)), latency.Sli);
        Assert.Equal(TimeSpan.FromDays(30), latency.Window);
        var throughput = Assert.Single(set.Slos, s => s.Sli is ThroughputSli);
        Assert.Equal(0.7, ((ThroughputSli)throughput.Sli).MinFractionOfPeak);
        Assert.Equal(TimeSpan.FromDays(1), throughput.Window);
        Assert.Equal(BudgetingMethod.Timeslices, throughput.BudgetingMethod);
        var memory = set.Slos.Where(s => s.Sli is ResourceSli).ToList();
        Assert.Equal(["gpu_memory_utilization", "process_memory_utilization"], memory.Select(m => ((ResourceSli)m.Sli).Gauge).Order());
        Assert.All(memory, m =>
        {
            Assert.Equal(0.85, ((ResourceSli)m.Sli).Threshold, 12);
            Assert.Equal(TimeSpan.FromMinutes(5), ((ResourceSli)m.Sli).MaxDurationAbove);
            Assert.Equal(1 - (5.0 / 1440), m.Objective, 12);   // 5 bad minutes a day allowed
        });
    }

    [Fact]
    public void LoadFiles_DefaultSpec_HasTheDecoderModelsTtftAndItlObjectives()
    {
        var set = SloSpecLoader.LoadFiles([ExamplePath], knownModels: ["minilm", "tiny-llama"]);

        var ttft = Assert.Single(set.Slos, s => s.Sli is TtftSli);
        Assert.Equal(("tiny-llama-ttft", "tiny-llama", 0.99), (ttft.Name, ttft.Model, ttft.Objective));
        Assert.Equal(new TtftSli(TimeSpan.FromMilliseconds(500)), ttft.Sli);
        var itl = Assert.Single(set.Slos, s => s.Sli is ItlSli);
        Assert.Equal(("tiny-llama-itl", "tiny-llama", 0.99), (itl.Name, itl.Model, itl.Objective));
        Assert.Equal(new ItlSli(TimeSpan.FromMilliseconds(50), ItlStatistic.P95), itl.Sli);
        Assert.All([ttft, itl], s => Assert.Equal(BudgetingMethod.Occurrences, s.BudgetingMethod));
    }

    private static string FindFromSource([System.Runtime.CompilerServices.CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", "..", ".."));
}
