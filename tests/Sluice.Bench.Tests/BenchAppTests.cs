using System.Text;
using System.Text.Json;
using Sluice.Bench.Calibration;
using Sluice.Bench.Clients;
using Sluice.Bench.Load;
using Sluice.Bench.Tests.TestSupport;

namespace Sluice.Bench.Tests;

/// <summary><c>sluice bench</c> end to end against the real server: reports, calibration, SLO judgement, goodput, in-process.</summary>
[Collection(BenchServerCollection.Name)]
public sealed class BenchAppTests(BenchServerFixture server) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);
    private readonly string _folder = Directory.CreateTempSubdirectory("sluice-bench-out-").FullName;

    private BenchOptions Options(string model, Action<BenchOptions>? configure = null)
    {
        var options = new BenchOptions
        {
            HttpUrl = server.Addresses.Http, GrpcUrl = server.Addresses.Grpc, Model = model, BatchSize = 1,
            Window = MeasurementWindow.For(TimeSpan.FromMilliseconds(600)), Warmup = TimeSpan.Zero, MaxTrials = 1,
        };
        configure?.Invoke(options);
        return options;
    }

    private string WriteSpec(string model, string phase, string threshold)
    {
        var path = Path.Combine(_folder, $"slo-{phase}-{threshold}.yaml");
        File.WriteAllText(path, $"""
            slos:
              - name: {model.Replace('_', '-')}-latency
                model: {model}
                objective: 99
                window: 1d
                budgeting: occurrences
                sli:
                  latency: {"{"}phase: {phase}, threshold: {threshold}{"}"}
              - name: {model.Replace('_', '-')}-memory
                model: {model}
                window: 1d
                budgeting: timeslices
                sli:
                  resource: {"{"}gauge: process_memory_utilization, threshold: 85%, max_duration_above: 5m{"}"}
            """);
        return path;
    }

    [Theory]
    [InlineData(BenchProtocol.Grpc)]
    [InlineData(BenchProtocol.Http)]
    [InlineData(BenchProtocol.HttpBinary)]
    public async Task RunAsync_NamedOutput_RunsOverEveryProtocol(BenchProtocol protocol)
    {
        var (console, output) = TestConsoles.Create();
        var options = Options("add_one", o =>
        {
            o.Protocol = protocol;
            o.Concurrency = [1];
            o.Outputs = ["OUTPUT0"];
        });

        var exit = await BenchApp.RunAsync(options, console, CancellationToken.None).WaitAsync(Timeout);

        Assert.True(exit == BenchExitCodes.Success, output.ToString());
        Assert.Contains(" 0 failed", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_UnknownOutput_IsAUsageErrorListingTheModelsOutputs()
    {
        var (console, output) = TestConsoles.Create();
        var options = Options("add_one", o => { o.Concurrency = [1]; o.Outputs = ["OUTPUT9"]; });

        var exit = await BenchApp.RunAsync(options, console, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(BenchExitCodes.UsageError, exit);
        Assert.Contains("--output: model 'add_one' has no output 'OUTPUT9' (outputs: OUTPUT0)", output.ToString().ReplaceLineEndings(""), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_SweepWithReport_WritesCsvJsonAndPlots()
    {
        var (console, output) = TestConsoles.Create();
        var options = Options("add_one_report", o =>
        {
            o.Rate = [50, 100];
            o.ReportDirectory = Path.Combine(_folder, "report");
        });

        var exit = await BenchApp.RunAsync(options, console, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(BenchExitCodes.Success, exit);
        var dir = options.ReportDirectory!;
        var csv = File.ReadAllLines(Path.Combine(dir, "bench.csv"));
        Assert.Equal(3, csv.Length);
        Assert.StartsWith("protocol,mode,concurrency,rate", csv[0], StringComparison.Ordinal);
        Assert.StartsWith("http,open,,50,constant", csv[1], StringComparison.Ordinal);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "bench.json")));
        var steps = json.RootElement.GetProperty("steps");
        Assert.Equal(2, steps.GetArrayLength());
        Assert.Equal(steps[1].GetProperty("successes").GetInt64(), steps[1].GetProperty("server").GetProperty("success_count").GetInt64());
        foreach (var plot in (string[])["latency_throughput", "latency_cdf", "server_breakdown"])
        {
            var png = File.ReadAllBytes(Path.Combine(dir, plot + ".png"));
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
            Assert.True(png.Length > 5000, $"{plot}.png is only {png.Length} bytes");
            Assert.Contains("<svg", File.ReadAllText(Path.Combine(dir, plot + ".svg")), StringComparison.Ordinal);
        }

        Assert.Contains("rate 100/s", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_CalibrateWithRepository_WritesCalibrationBesideTheModel()
    {
        var (console, _) = TestConsoles.Create();
        var options = Options("add_one_report", o =>
        {
            o.Calibrate = true;
            o.Concurrency = [1, 2];
            o.ModelRepository = server.RepositoryPath;
            o.Hardware = "x86_64-2c-cpu-test";
            o.SluiceVersion = "9.9.9";
        });

        var exit = await BenchApp.RunAsync(options, console, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(BenchExitCodes.Success, exit);
        var path = Path.Combine(server.RepositoryPath, "add_one_report", "1", CalibrationRecord.FileName);
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var root = json.RootElement;
        Assert.True(root.GetProperty("peak_inferences_per_second").GetDouble() > 10);
        Assert.Contains(root.GetProperty("concurrency_at_peak").GetInt32(), (int[])[1, 2]);
        Assert.Equal(1, root.GetProperty("batch_size").GetInt32());
        Assert.Equal("x86_64-2c-cpu-test", root.GetProperty("hardware").GetString());
        Assert.Equal("9.9.9", root.GetProperty("sluice_version").GetString());
        var measuredAt = DateTimeOffset.Parse(root.GetProperty("measured_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(DateTimeOffset.UtcNow - measuredAt, TimeSpan.Zero, TimeSpan.FromMinutes(5));
        Assert.EndsWith("Z", root.GetProperty("measured_at").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_SloHeldAtRequestedLoad_ExitsZero()
    {
        var (console, output) = TestConsoles.Create();
        var options = Options("add_one_slo", o => { o.Concurrency = [2]; o.SloFiles = [WriteSpec("add_one_slo", "end_to_end", "5s")]; });

        var exit = await BenchApp.RunAsync(options, console, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(BenchExitCodes.Success, exit);
        Assert.Contains("add-one-slo-memory (resource)", output.ToString(), StringComparison.Ordinal);   // said, not silently skipped
    }

    [Theory]
    [InlineData("end_to_end")]
    [InlineData("compute")]
    public async Task RunAsync_SloMissedAtRequestedLoad_ExitsOne(string phase)
    {
        var (console, _) = TestConsoles.Create();
        // 1 µs: no request over loopback HTTP, nor the engine's own compute, is that fast.
        var options = Options("add_one_slo", o => { o.Rate = [50]; o.SloFiles = [WriteSpec("add_one_slo", phase, "0.001ms")]; });

        var exit = await BenchApp.RunAsync(options, console, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(BenchExitCodes.SloFailed, exit);
    }

    [Fact]
    public async Task RunAsync_SloWithoutLoad_SearchesGoodputUpToTheCeiling()
    {
        var (console, output) = TestConsoles.Create();
        var options = Options("add_one_slo", o =>
        {
            o.SloFiles = [WriteSpec("add_one_slo", "end_to_end", "5s")];
            o.GoodputStartRate = 20;
            o.GoodputMaxRate = 80;
            o.ReportDirectory = Path.Combine(_folder, "goodput");
        });

        var exit = await BenchApp.RunAsync(options, console, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(BenchExitCodes.Success, exit);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(options.ReportDirectory!, "bench.json")));
        Assert.Equal(80, json.RootElement.GetProperty("goodput_requests_per_second").GetDouble());
        Assert.Equal([20.0, 40, 80], json.RootElement.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("rate").GetDouble()));
        Assert.All(json.RootElement.GetProperty("steps").EnumerateArray(), s => Assert.True(s.GetProperty("slo_met").GetBoolean()));
        Assert.Contains("goodput: 80", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_SloNeverHolds_GoodputSearchExitsOne()
    {
        var (console, output) = TestConsoles.Create();
        var options = Options("add_one_slo", o =>
        {
            o.SloFiles = [WriteSpec("add_one_slo", "end_to_end", "0.001ms")];
            o.GoodputStartRate = 40;
            o.Window = MeasurementWindow.For(TimeSpan.FromSeconds(1));   // 20 requests a step at least: rates 40, then 20, then stop
            o.ReportDirectory = Path.Combine(_folder, "never");
        });

        var exit = await BenchApp.RunAsync(options, console, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(BenchExitCodes.SloFailed, exit);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(options.ReportDirectory!, "bench.json")));
        Assert.Equal([40.0, 20], json.RootElement.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("rate").GetDouble()));
        Assert.Equal(0, json.RootElement.GetProperty("goodput_requests_per_second").GetDouble());
        Assert.Contains("no rate down to 20/s", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_InProcess_RunsTheSameWorkloadOnABareSessionAndReportsOverhead()
    {
        var (console, output) = TestConsoles.Create();
        OnnxTestTarget? target = null;
        var options = Options("add_one_report", o =>
        {
            o.Concurrency = [1];
            o.Window = MeasurementWindow.Count(200);
            o.InProcessModel = server.ModelFile("add_one_report");
            o.InProcessFactory = path => target = new OnnxTestTarget(path);
            o.ReportDirectory = Path.Combine(_folder, "in-process");
            o.Protocol = BenchProtocol.HttpBinary;
        });

        var exit = await BenchApp.RunAsync(options, console, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(BenchExitCodes.Success, exit);
        Assert.Equal(200, target!.Runs);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(options.ReportDirectory!, "bench.json")));
        Assert.Equal(200, json.RootElement.GetProperty("in_process_steps")[0].GetProperty("successes").GetInt64());
        var ratio = json.RootElement.GetProperty("server_overhead")[0].GetProperty("server_to_in_process_p50_ratio").GetDouble();
        Assert.True(ratio > 1, $"a loopback HTTP round trip should cost more than the bare session, got {ratio}");
        Assert.Contains("server overhead", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_UnknownModel_ExitsThreeNamingIt()
    {
        var (console, output) = TestConsoles.Create();

        var exit = await BenchApp.RunAsync(Options("no_such_model"), console, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(BenchExitCodes.Failed, exit);
        Assert.Contains("no_such_model", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_Int64IdsModelOverGrpc_SynthesizesTokenIds()
    {
        var (console, _) = TestConsoles.Create();
        var options = Options("ids", o => { o.Protocol = BenchProtocol.Grpc; o.BatchSize = 3; o.Window = MeasurementWindow.Count(20); o.ReportDirectory = Path.Combine(_folder, "ids"); });

        var exit = await BenchApp.RunAsync(options, console, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(BenchExitCodes.Success, exit);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(options.ReportDirectory!, "bench.json")));
        var step = json.RootElement.GetProperty("steps")[0];
        Assert.Equal(20, step.GetProperty("successes").GetInt64());
        Assert.Equal(60, step.GetProperty("server").GetProperty("inference_count").GetInt64());   // 20 requests × batch 3
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
