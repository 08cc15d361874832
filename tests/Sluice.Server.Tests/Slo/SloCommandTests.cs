using System.Diagnostics;
using System.Text.Json.Nodes;
using Sluice.Server.Tests.TestSupport;
using static Sluice.Server.Tests.TestSupport.KServeHttp;

namespace Sluice.Server.Tests.Slo;

/// <summary><c>sluice slo status|rules|dashboard</c> and <c>sluice serve --slo-spec</c>, run as the real CLI process.</summary>
public sealed class SloCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>One SLO of every SLI kind, with labels and annotations.</summary>
    private const string EveryKindSpec = """
        service: shop
        slos:
          - name: ranker-latency
            model: ranker
            objective: 99.9
            window: 30d
            sli:
              latency: {phase: compute_infer, threshold: 20ms}
            alerting:
              runbook_url: https://runbooks.example.com/ranker
              page: {for: 2m, labels: {team: ml}, annotations: {dashboard: https://grafana.example.com/d/slo}}
          - name: ranker-availability
            model: ranker
            objective: 99.5
            window: 7d
            sli:
              availability: {bad_reasons: [runtime_failure, queue_full]}
          - name: ranker-throughput
            model: ranker
            objective: 95
            window: 1d
            budgeting: timeslices
            timeslice: 1m
            sli:
              throughput: {min_fraction_of_peak: 0.7}
          - name: ranker-batching
            model: ranker
            objective: 90
            window: 1d
            budgeting: timeslices
            timeslice: 5m
            sli:
              batching: {measure: average_batch_size, min: 4}
          - name: host-memory
            model: ranker
            window: 1d
            budgeting: timeslices
            timeslice: 1m
            sli:
              resource: {gauge: process_memory_utilization, threshold: 85%, max_duration_above: 5m}
        """;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rules_Spec_PassesPromtoolCheckRules(bool everyKind)
    {
        using var workspace = new SloWorkspace();
        var rules = Path.Combine(workspace.Root, "rules.yaml");
        string[] spec = everyKind ? ["--spec", workspace.WriteSpec(EveryKindSpec)] : [];

        var (exitCode, _, stderr) = await SluiceProcess.RunAsync(Timeout, ["slo", "rules", .. spec, "-o", rules]);
        var (promtoolExit, promtoolOutput) = await RunPromtoolAsync(workspace.Root, "check", "rules", rules);

        Assert.True(exitCode == 0, stderr);
        Assert.True(promtoolExit == 0, promtoolOutput);
        Assert.Contains("SUCCESS", promtoolOutput);
        var text = await File.ReadAllTextAsync(rules);
        Assert.Contains("sluice_slo_events_total", text);
        Assert.Contains(everyKind ? "ranker-batching" : "minilm-latency", text);
    }

    [Fact]
    public async Task Rules_NoOutputFile_WritesTheRulesToStdout()
    {
        var (exitCode, stdout, stderr) = await SluiceProcess.RunAsync(Timeout, "slo", "rules");

        Assert.True(exitCode == 0, stderr);
        Assert.Contains("groups:", stdout);
        Assert.Contains("slo=\"minilm-latency\"", stdout);
    }

    [Fact]
    public async Task Dashboard_Spec_WritesGrafanaJsonNamingEverySlo()
    {
        using var workspace = new SloWorkspace();
        var output = Path.Combine(workspace.Root, "dashboard.json");

        var (exitCode, _, stderr) = await SluiceProcess.RunAsync(Timeout, "slo", "dashboard", "--spec", workspace.WriteSpec(EveryKindSpec), "-o", output);

        Assert.True(exitCode == 0, stderr);
        var text = await File.ReadAllTextAsync(output);
        var dashboard = JsonNode.Parse(text)!.AsObject();
        Assert.NotEmpty(dashboard["panels"]!.AsArray());
        foreach (var name in (string[])["ranker-latency", "ranker-availability", "ranker-throughput", "ranker-batching", "host-memory"])
        {
            Assert.Contains(name, text);
        }
    }

    [Theory]
    [InlineData("rules")]
    [InlineData("dashboard")]
    public async Task Generate_InvalidSpec_ExitsWith2NamingFileLineAndField(string command)
    {
        using var workspace = new SloWorkspace();
        var spec = workspace.WriteSpec("""
            slos:
              - name: ranker-latency
                model: ranker
                objective: 150
                window: 30d
                sli:
                  latency: {phase: compute, threshold: 20ms}
            """, "bad-slo.yaml");

        var (exitCode, stdout, stderr) = await SluiceProcess.RunAsync(Timeout, "slo", command, "--spec", spec);

        Assert.Equal(2, exitCode);
        Assert.Equal("", stdout);
        Assert.Contains("bad-slo.yaml:4:", stderr);
        Assert.Contains("objective", stderr);
    }

    [Fact]
    public async Task Serve_InvalidSloSpec_ExitsWith2NamingFileLineAndField()
    {
        using var workspace = new SloWorkspace().WithAddOne("adder");
        var spec = workspace.WriteSpec("""
            slos:
              - name: adder-latency
                model: adder
                objective: 99
                window: 30d
                sli:
                  latency: {phase: sideways, threshold: 20ms}
            """, "bad-slo.yaml");

        var (exitCode, _, stderr) = await SluiceProcess.RunAsync(Timeout, "serve", "--model-repository", workspace.Repository,
            "--slo-spec", spec, "--data-dir", workspace.DataDirectory, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0");

        Assert.Equal(2, exitCode);
        Assert.Contains("bad-slo.yaml:7:", stderr);
        Assert.Contains("phase", stderr);
        Assert.DoesNotContain("Exception", stderr);
    }

    [Fact]
    public async Task Serve_SloSpecForUnknownModel_ExitsWith2NamingTheModel()
    {
        using var workspace = new SloWorkspace().WithAddOne("adder");
        var spec = workspace.WriteSpec("""
            slos:
              - name: ghost-availability
                model: ghost
                objective: 99
                window: 30d
                sli:
                  availability: {}
            """);

        var (exitCode, _, stderr) = await SluiceProcess.RunAsync(Timeout, "serve", "--model-repository", workspace.Repository,
            "--slo-spec", spec, "--data-dir", workspace.DataDirectory, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0");

        Assert.Equal(2, exitCode);
        Assert.Contains("slo.yaml:", stderr);
        Assert.Contains("'ghost'", stderr);
    }

    [Fact]
    public async Task Status_RunningServer_PrintsARowPerSloAndTheNoDataReasons()
    {
        using var workspace = new SloWorkspace().WithAddOne("adder");
        var spec = workspace.WriteSpec("""
            slos:
              - name: adder-availability
                model: adder
                objective: 99.9
                window: 30d
                sli:
                  availability: {}
              - name: adder-throughput
                model: adder
                objective: 95
                window: 1d
                budgeting: timeslices
                sli:
                  throughput: {min_fraction_of_peak: 0.7}
            """);
        await using var server = await SloTestServer.StartAsync(workspace.Repository, spec, workspace.DataDirectory, models: "adder");
        using (var response = await server.Client.PostAsync("v2/models/adder/infer",
                   Json("""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}""")).WaitAsync(Timeout))
        {
            Assert.True(response.IsSuccessStatusCode);
        }

        await server.WaitUntilCountedAsync("adder-availability", 1);
        server.Evaluate();

        var (exitCode, stdout, stderr) = await SluiceProcess.RunAsync(Timeout, "slo", "status", "--url", server.Addresses.Http.ToString());

        Assert.True(exitCode == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith("NAME", lines[0]);
        var availability = lines.Single(l => l.StartsWith("adder-availability", StringComparison.Ordinal));
        Assert.Contains("1/1", availability);
        Assert.Contains("100%", availability);
        Assert.Contains("inactive", availability);
        Assert.Contains(lines, l => l.StartsWith("adder-throughput", StringComparison.Ordinal) && l.Contains("no data"));
        Assert.Contains(lines, l => l.StartsWith("adder-throughput:", StringComparison.Ordinal) && l.Contains("no peak measured"));
    }

    [Fact]
    public async Task Help_Serve_DescribesTheSloOptionsAndTheDataDirectoryDefault()
    {
        var (exitCode, stdout, _) = await SluiceProcess.RunAsync(Timeout, "serve", "--help");

        Assert.Equal(0, exitCode);
        Assert.Contains("--slo-spec", stdout);
        Assert.Contains("--slo-webhook-url", stdout);
        Assert.Contains("--data-dir", stdout);
        Assert.Contains("./data", stdout);
    }

    [Fact]
    public async Task Serve_RelativeWebhookUrl_ExitsWith2NamingTheOption()
    {
        var (exitCode, _, stderr) = await SluiceProcess.RunAsync(Timeout, "serve", "--slo-webhook-url", "alertmanager/hook");

        Assert.Equal(2, exitCode);
        Assert.Contains("--slo-webhook-url", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Status_NoServer_ExitsWith1SayingWhatFailed()
    {
        var url = $"http://127.0.0.1:{SluiceProcess.FreePort()}";

        var (exitCode, _, stderr) = await SluiceProcess.RunAsync(Timeout, "slo", "status", "--url", url);

        Assert.Equal(1, exitCode);
        Assert.Contains($"cannot reach {url}", stderr);
    }

    private static async Task<(int ExitCode, string Output)> RunPromtoolAsync(string workingDirectory, params string[] arguments)
    {
        var path = new[] { "/usr/bin/promtool", "/usr/local/bin/promtool" }.FirstOrDefault(File.Exists);
        Assert.True(path is not null, "promtool is not installed (apt-get install -y prometheus); the rule tests need the real one.");
        var start = new ProcessStartInfo(path) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Timeout);
        return (process.ExitCode, await stdout + await stderr);
    }
}
