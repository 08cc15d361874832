using System.Net;
using System.Text.Json.Nodes;
using Sluice.Server.Slo;
using static Sluice.Server.Tests.TestSupport.KServeHttp;

namespace Sluice.Server.Tests.Slo;

/// <summary>The SLO history survives a restart: stop the real server, start another on the same data folder.</summary>
public sealed class SloHistoryRestartTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private const string Spec = """
        slos:
          - name: adder-availability
            model: adder
            objective: 99.9
            window: 30d
            sli:
              availability: {}
        """;

    [Fact]
    public async Task Restart_SameDataDirectory_WindowCountsStillThere()
    {
        using var workspace = new SloWorkspace().WithAddOne("adder");
        var spec = workspace.WriteSpec(Spec);

        // :: First run: 7 successful requests, then a normal stop (the last evaluation and flush happen on the way out).
        await using (var first = await SloTestServer.StartAsync(workspace.Repository, spec, workspace.DataDirectory, models: "adder"))
        {
            for (int i = 0; i < 7; i++)
            {
                using var response = await first.Client.PostAsync("v2/models/adder/infer",
                    Json("""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}""")).WaitAsync(Timeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            await first.WaitUntilCountedAsync("adder-availability", 7);
        }

        Assert.True(File.Exists(Path.Combine(workspace.DataDirectory, SloHistoryLocation.FileName)));

        // :: Second run on the same folder, no request yet: the counts are back before any new event.
        await using var second = await SloTestServer.StartAsync(workspace.Repository, spec, workspace.DataDirectory, models: "adder");
        var status = await second.GetSloAsync("adder-availability");

        Assert.Equal(7, (long)status["total"]!);
        Assert.Equal(7, (long)status["good"]!);
        Assert.Equal("ok", (string)status["state"]!);
        var thirtyDays = status["burn_rates"]!.AsArray().Last()!;
        Assert.Equal("30d", (string)thirtyDays["window"]!);
        Assert.Equal(7, (long)thirtyDays["total"]!);
    }

    [Fact]
    public async Task Start_UnwritableDataDirectory_ServesAndEvaluatesWithoutHistory()
    {
        using var workspace = new SloWorkspace().WithAddOne("adder");
        var blocker = Path.Combine(workspace.Root, "not-a-folder");
        await File.WriteAllTextAsync(blocker, "a file where the data folder should be");

        await using var server = await SloTestServer.StartAsync(workspace.Repository, workspace.WriteSpec(Spec), blocker, models: "adder");
        using var response = await server.Client.PostAsync("v2/models/adder/infer",
            Json("""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}""")).WaitAsync(Timeout);
        await server.WaitUntilCountedAsync("adder-availability", 1);
        server.Evaluate();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, (long)(await server.GetSloAsync("adder-availability"))["total"]!);
    }
}
