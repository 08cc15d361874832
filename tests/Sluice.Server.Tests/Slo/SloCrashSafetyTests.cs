using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Sluice.Server.Slo;
using Sluice.Server.Tests.TestSupport;
using static Sluice.Server.Tests.TestSupport.KServeHttp;

namespace Sluice.Server.Tests.Slo;

/// <summary>The real <c>sluice serve</c> process, on the real clock: the history is flushed once a minute, so a kill -9 loses
/// at most the last minute and what was flushed is back after a restart.</summary>
public sealed class SloCrashSafetyTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Kill9AfterAFlush_Restart_FlushedCountsAreBack()
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
            """);

        // :: First process: 4 requests, then wait for the once-a-minute flush to put them in the file, then SIGKILL.
        var first = Start(workspace, spec, out var client);
        try
        {
            await WaitForReadyAsync(client, first);
            for (int i = 0; i < 4; i++)
            {
                using var response = await client.PostAsync("v2/models/adder/infer",
                    Json("""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}""")).WaitAsync(Timeout);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            var history = Path.Combine(workspace.DataDirectory, SloHistoryLocation.FileName);
            await Conditions.WaitUntilAsync(() => StoredTotal(history) >= 4, TimeSpan.FromSeconds(150), "the history file holds the 4 requests");
        }
        finally
        {
            first.Dispose();   // Process.Kill: SIGKILL, no shutdown flush
            client.Dispose();
        }

        // :: Second process on the same data folder: the counts are there before any request.
        using var second = Start(workspace, spec, out var secondClient);
        using (secondClient)
        {
            await WaitForReadyAsync(secondClient, second);
            using var response = await secondClient.GetAsync("v2/slo/adder-availability").WaitAsync(Timeout);
            var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(4, (long)status["total"]!);
            Assert.Equal(4, (long)status["good"]!);
        }
    }

    private static SluiceProcess Start(SloWorkspace workspace, string spec, out HttpClient client)
    {
        var httpPort = SluiceProcess.FreePort();
        var grpcPort = SluiceProcess.FreePort();
        var process = SluiceProcess.Start("serve", "--model-repository", workspace.Repository, "--slo-spec", spec, "--data-dir", workspace.DataDirectory,
            "--address", "127.0.0.1", "--http-port", httpPort.ToString(), "--grpc-port", grpcPort.ToString(), "--metrics-port", "0");
        client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = Timeout };
        return process;
    }

    /// <summary>The total of every stored minute and hour row, read the way any other SQLite reader would; 0 before the file exists.</summary>
    private static long StoredTotal(string path)
    {
        if (!File.Exists(path))
        {
            return 0;
        }

        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT (SELECT coalesce(sum(total), 0) FROM minute_counts) + (SELECT coalesce(sum(total), 0) FROM hour_counts);";
        try
        {
            return (long)command.ExecuteScalar()!;
        }
        catch (SqliteException)
        {
            return 0;   // the tables are not created yet
        }
    }

    private static async Task WaitForReadyAsync(HttpClient client, SluiceProcess sluice)
    {
        await Conditions.WaitUntilAsync(() =>
        {
            Assert.False(sluice.HasExited, $"sluice exited early: {sluice.Stderr} {sluice.Stdout}");
            try
            {
                using var response = client.GetAsync("v2/models/adder/ready").GetAwaiter().GetResult();
                return response.StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;   // not listening yet
            }
        }, Timeout, "the model is ready");
    }
}
