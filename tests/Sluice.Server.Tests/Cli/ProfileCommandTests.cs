using System.Text.Json;
using Sluice.Server.Tests.Telemetry;
using Sluice.Server.Tests.TestSupport;

namespace Sluice.Server.Tests.Cli;

/// <summary><c>sluice profile</c> on MiniLM, offline from the repository and through a running server.</summary>
public sealed class ProfileCommandTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Profile_MiniLmFromRepository_PrintsJsonWithNodesAndOpTypes()
    {
        using var repository = new TestRepository().WithMiniLm();

        var (exitCode, stdout, stderr) = await SluiceProcess.RunAsync(Timeout,
            "profile", "minilm", "--model-repository", repository.Path, "--runs", "2", "--warmup", "1", "--sequence-length", "16", "--top", "3", "--json");

        Assert.True(exitCode == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("synthetic", json.RootElement.GetProperty("input_source").GetString());
        Assert.Equal(2, json.RootElement.GetProperty("runs").GetInt32());
        Assert.Equal(3, json.RootElement.GetProperty("top_nodes").GetArrayLength());
        Assert.True(json.RootElement.GetProperty("op_types").GetArrayLength() > 3);
    }

    [Fact]
    public async Task Profile_ThroughServer_PrintsTable()
    {
        using var repository = new TestRepository().WithMiniLm();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "minilm");

        var (exitCode, stdout, stderr) = await SluiceProcess.RunAsync(Timeout,
            "profile", "minilm", "--url", server.Addresses.Http.ToString(), "--runs", "2", "--warmup", "0", "--sequence-length", "16");

        Assert.True(exitCode == 0, stderr);
        Assert.StartsWith("model minilm version 1: 2 runs", stdout);
        Assert.Contains("top 10 nodes", stdout);
    }

    [Fact]
    public async Task Profile_UnknownModel_ExitsNonZeroNamingTheArgument()
    {
        using var repository = new TestRepository().WithAddOne();

        var (exitCode, _, stderr) = await SluiceProcess.RunAsync(Timeout, "profile", "nope", "--model-repository", repository.Path);

        Assert.Equal(1, exitCode);
        Assert.Contains("MODEL", stderr);
        Assert.DoesNotContain(repository.Path, stderr);
    }
}
