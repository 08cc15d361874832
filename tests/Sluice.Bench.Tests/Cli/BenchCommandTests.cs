using System.Text.Json;
using Sluice.Bench.Tests.TestSupport;

namespace Sluice.Bench.Tests.Cli;

/// <summary><c>sluice bench</c> through the real entry point: option parsing, validation, and a run against the loopback server.</summary>
[Collection(BenchServerCollection.Name)]
public sealed class BenchCommandTests(BenchServerFixture server)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Theory]
    [InlineData("--concurrency", "0")]
    [InlineData("--concurrency", "1:8:x1")]
    [InlineData("--rate", "abc")]
    [InlineData("--duration", "soon")]
    [InlineData("--token-range", "9:3")]
    [InlineData("--protocol", "carrier-pigeon")]
    public async Task Main_InvalidOption_ExitsWithUsageError(string option, string value)
    {
        var exit = await Sluice.Cli.Program.Main(["bench", option, value]).WaitAsync(Timeout);

        Assert.Equal(2, exit);
    }

    [Fact]
    public async Task Main_ClosedAndOpenLoopTogether_ExitsWithUsageError()
    {
        var exit = await Sluice.Cli.Program.Main(["bench", "-c", "4", "-r", "10"]).WaitAsync(Timeout);

        Assert.Equal(2, exit);
    }

    [Fact]
    public async Task Main_SweepAgainstServerWithInProcess_WritesReport()
    {
        var report = Directory.CreateTempSubdirectory("sluice-bench-cli-").FullName;

        var exit = await Sluice.Cli.Program.Main([
            "bench", "--url", server.Addresses.Http.ToString(), "-m", "add_one", "-i", "http-binary", "-c", "1,2", "-n", "50",
            "--warmup", "0s", "--max-trials", "1", "--batch-size", "3", "--in-process", server.ModelFile("add_one"), "--report", report,
        ]).WaitAsync(Timeout);

        Assert.Equal(0, exit);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(report, "bench.json")));
        Assert.Equal("http-binary", json.RootElement.GetProperty("protocol").GetString());
        var steps = json.RootElement.GetProperty("steps");
        Assert.Equal([1, 2], steps.EnumerateArray().Select(s => s.GetProperty("concurrency").GetInt32()));
        Assert.All(steps.EnumerateArray(), s => Assert.Equal(150, s.GetProperty("server").GetProperty("inference_count").GetInt64()));   // 50 × batch 3
        Assert.Equal(2, json.RootElement.GetProperty("in_process_steps").GetArrayLength());
        Directory.Delete(report, recursive: true);
    }
}
