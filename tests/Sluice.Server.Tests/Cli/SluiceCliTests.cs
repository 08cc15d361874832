using System.Net;
using Sluice.Server.Tests.Hosting;
using Sluice.Server.Tests.TestSupport;
using static Sluice.Server.Tests.TestSupport.KServeHttp;

namespace Sluice.Server.Tests.Cli;

public sealed class SluiceCliTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Help_Root_ListsServe()
    {
        var (exitCode, stdout, _) = await SluiceProcess.RunAsync(Timeout, "--help");

        Assert.Equal(0, exitCode);
        Assert.Contains("serve", stdout);
    }

    [Fact]
    public async Task Help_Serve_DescribesEveryOptionWithItsDefault()
    {
        var (exitCode, stdout, _) = await SluiceProcess.RunAsync(Timeout, "serve", "--help");

        Assert.Equal(0, exitCode);
        foreach (var option in (string[])["--model-repository", "--model-control-mode", "--load-model", "--http-port", "--grpc-port", "--address",
                     "--device", "--enable-model-management", "--management-token", "--max-request-body-bytes", "--drain-timeout", "--inline-io", "--thread-pool-spin"])
        {
            Assert.Contains(option, stdout);
        }

        foreach (var shown in (string[])["8000", "8001", "0.0.0.0", "cpu", "none", "./model_repository", "67108864", "00:00:30"])
        {
            Assert.Contains(shown, stdout);
        }
    }

    [Theory]
    [InlineData("cpu", "--device", "gpu")]
    [InlineData("tensorrt", "--device", "gpu")]
    [InlineData("explicit", "--model-control-mode", "sometimes")]
    [InlineData("--http-port", "--http-port", "70000")]
    [InlineData("abc", "--grpc-port", "abc")]
    [InlineData("--address", "--address", "example.com")]
    [InlineData("--drain-timeout", "--drain-timeout", "soon")]
    [InlineData("--management-token", "--enable-model-management")]
    [InlineData("--max-request-body-bytes", "--max-request-body-bytes", "12")]
    [InlineData("--no-such-option", "--no-such-option")]
    [InlineData("must differ", "--http-port", "9000", "--grpc-port", "9000")]
    [InlineData("--load-model", "--load-model", "x")]
    [InlineData("--thread-pool-spin", "--thread-pool-spin", "-1")]
    [InlineData("--thread-pool-spin", "--thread-pool-spin", "lots")]
    public async Task Serve_InvalidOption_ExitsWith2AndOneClearLine(string expected, params string[] args)
    {
        var (exitCode, _, stderr) = await SluiceProcess.RunAsync(Timeout, ["serve", .. args]);

        Assert.Equal(2, exitCode);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Serve_Sigterm_DrainsInFlightRequestAndExitsZero()
    {
        using var repository = new TestRepository().WithSlow("slow", iterations: 3000);
        var httpPort = SluiceProcess.FreePort();
        var grpcPort = SluiceProcess.FreePort();
        using var sluice = SluiceProcess.Start("serve", "--model-repository", repository.Path, "--address", "127.0.0.1",
            "--http-port", httpPort.ToString(), "--grpc-port", grpcPort.ToString(), "--metrics-port", "0", "--drain-timeout", "30s");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = Timeout };
        await WaitForReadyModelAsync(client, sluice, "slow");
        Assert.Contains($"127.0.0.1:{httpPort}", sluice.Stdout);   // the startup line says what is served where

        // :: requests in flight: four full batches of the slow model run one after another (one instance), so the drain
        // window is several batches long however late the server's asynchronously written log line reaches the test.
        var inFlight = Enumerable.Range(0, 4)
            .Select(_ => client.PostAsync("v2/models/slow/infer", Json(SluiceApplicationTests.SlowRequest(rows: 32))))
            .ToArray();
        await Conditions.WaitUntilAsync(
            () => CountOf(sluice.Stdout, "Decoded infer request for model 'slow'") >= inFlight.Length || inFlight.Any(r => r.IsCompleted),
            Timeout, "every request was admitted and reached the engine");
        if (inFlight.Any(r => r.IsCompleted))
        {
            using var early = await inFlight[0];
            Assert.Fail($"the slow requests finished before SIGTERM ({(int)early.StatusCode} {await early.Content.ReadAsStringAsync()})");
        }

        sluice.Terminate();

        try
        {
            await Conditions.WaitUntilAsync(() => IsNotReady(client), Timeout, "readiness turned false");
        }
        catch (HttpRequestException exception)
        {
            await sluice.WaitForExitAsync(Timeout);
            throw new Xunit.Sdk.XunitException($"{exception.Message}; sluice output: {sluice.Stdout} {sluice.Stderr}");
        }

        using var rejected = await client.PostAsync("v2/models/slow/infer", Json(SluiceApplicationTests.SlowRequest(rows: 1))).WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
        Assert.NotNull(rejected.Headers.RetryAfter);
        var completed = await Task.WhenAll(inFlight).WaitAsync(Timeout);
        var exitCode = await sluice.WaitForExitAsync(Timeout);

        foreach (var response in completed)
        {
            using (response)
            {
                Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
                Assert.Equal(32 * 256, (await ReadInferAsync(response)).Floats("OUTPUT0").Length);
            }
        }
        Assert.True(exitCode == 0, $"exit code {exitCode}; stderr: {sluice.Stderr}");
        Assert.Contains("readiness is now false", sluice.Stdout);
    }

    [Fact]
    public async Task Serve_InlineIoAndThreadPoolSpin_AnswersHttpAndGrpcAndStopsCleanlyOnSigterm()
    {
        using var repository = new TestRepository().WithAddOne();
        var httpPort = SluiceProcess.FreePort();
        var grpcPort = SluiceProcess.FreePort();
        using var sluice = SluiceProcess.Start("serve", "--model-repository", repository.Path, "--address", "127.0.0.1",
            "--http-port", httpPort.ToString(), "--grpc-port", grpcPort.ToString(), "--metrics-port", "0", "--inline-io", "--thread-pool-spin", "5000");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/"), Timeout = Timeout };
        await WaitForReadyModelAsync(client, sluice, "add_one");

        // Many at once on each protocol: continuations now run on the socket threads, and none may be lost or crossed.
        var http = Enumerable.Range(0, 16).Select(async i =>
        {
            using var response = await client.PostAsync("v2/models/add_one/infer",
                Json($$"""{"inputs":[{"name":"INPUT0","shape":[1,4],"datatype":"FP32","data":[{{i}},1,2,3]}]}"""));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await ReadInferAsync(response)).Floats("OUTPUT0");
        }).ToArray();
        using var channel = global::Grpc.Net.Client.GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        var grpc = new Sluice.Server.Grpc.Protocol.GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var rpcs = Enumerable.Range(0, 16).Select(async i =>
        {
            var response = await grpc.ModelInferAsync(Sluice.Server.Tests.Grpc.KServeGrpcServiceTests.AddOneRequest([100 + i, 1, 2, 3]));
            return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(response.RawOutputContents[0].Span).ToArray();
        }).ToArray();

        var httpOutputs = await Task.WhenAll(http).WaitAsync(Timeout);
        var grpcOutputs = await Task.WhenAll(rpcs).WaitAsync(Timeout);
        sluice.Terminate();
        var exitCode = await sluice.WaitForExitAsync(Timeout);

        for (var i = 0; i < 16; i++)
        {
            Assert.Equal([i + 1f, 2, 3, 4], httpOutputs[i]);
            Assert.Equal([101f + i, 2, 3, 4], grpcOutputs[i]);
        }

        Assert.True(exitCode == 0, $"exit code {exitCode}; stderr: {sluice.Stderr}");
        Assert.Contains("thread-pool spin limit 5000", sluice.Stdout);
    }

    [Fact]
    public void ThreadPoolSpin_DefaultsTo5000OnGpuDevicesOnlyAndAnExplicitValueWins()
    {
        var root = new System.CommandLine.RootCommand { Sluice.Cli.Commands.ServeCommand.Create() };
        object? SpinAfter(params string[] args)
        {
            AppContext.SetData(Sluice.Cli.Commands.ServeCommand.SpinLimitSetting, null);
            Sluice.Cli.Commands.ServeCommand.ApplyRuntimeSettings(root.Parse(args));
            return AppContext.GetData(Sluice.Cli.Commands.ServeCommand.SpinLimitSetting);
        }

        Assert.Equal(5000, SpinAfter("serve", "--device", "cuda"));
        Assert.Equal(5000, SpinAfter("serve", "--device", "tensorrt"));
        Assert.Null(SpinAfter("serve"));
        Assert.Null(SpinAfter("serve", "--device", "cpu"));
        Assert.Equal(70, SpinAfter("serve", "--device", "cuda", "--thread-pool-spin", "70"));
        Assert.Equal(3000, SpinAfter("serve", "--thread-pool-spin", "3000"));
        Assert.Null(SpinAfter("serve", "--device", "cuda", "--thread-pool-spin", "0"));   // 0: the runtime's own
    }

    private static int CountOf(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static bool IsNotReady(HttpClient client)
    {
        using var response = client.GetAsync("v2/health/ready").GetAwaiter().GetResult();
        return response.StatusCode != HttpStatusCode.OK;
    }

    private static async Task WaitForReadyModelAsync(HttpClient client, SluiceProcess sluice, string model)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            Assert.False(sluice.HasExited, $"sluice exited early: {sluice.Stderr} {sluice.Stdout}");
            try
            {
                using var response = await client.GetAsync($"v2/models/{model}/ready");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"model never ready: {sluice.Stdout} {sluice.Stderr}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
    }
}
