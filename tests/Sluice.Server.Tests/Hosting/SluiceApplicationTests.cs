using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Sluice.Core.Serving;
using Sluice.Server.Hosting;
using Sluice.Server.Tests.TestSupport;
using static Sluice.Server.Tests.TestSupport.KServeHttp;

namespace Sluice.Server.Tests.Hosting;

public sealed class SluiceApplicationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(true, null, "ManagementToken")]
    [InlineData(false, null, "")]
    public void Build_ManagementWithoutToken_FailsNamingTheOption(bool enable, string? token, string expected)
    {
        var options = new SluiceServerOptions { EnableModelManagement = enable, ManagementToken = token, HttpPort = 0, GrpcPort = 0 };

        var errors = options.Validate();

        if (expected.Length == 0)
        {
            Assert.Empty(errors);
        }
        else
        {
            Assert.Contains(errors, e => e.Contains(expected, StringComparison.Ordinal) || e.Contains("management token", StringComparison.Ordinal));
            Assert.Throws<OptionsValidationException>(() => SluiceApplication.Build(options, _ => { }));
        }
    }

    [Fact]
    public void Validate_SamePortsAndBadAddress_ReportsEveryError()
    {
        var options = new SluiceServerOptions { HttpPort = 9000, GrpcPort = 9000, ListenAddress = "not-an-ip", MaxJsonDepth = 1 };

        var errors = options.Validate();

        Assert.Contains(errors, static e => e.Contains("must differ"));
        Assert.Contains(errors, static e => e.Contains("not-an-ip"));
        Assert.Contains(errors, static e => e.Contains("MaxJsonDepth"));
    }

    [Fact]
    public async Task GetAddresses_PortsZero_ReturnsTheBoundDistinctPorts()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await SluiceServer.StartAsync(repository, models: ["add_one"]);

        Assert.NotEqual(0, server.Addresses.Http.Port);
        Assert.NotEqual(0, server.Addresses.Grpc.Port);
        Assert.NotEqual(server.Addresses.Http.Port, server.Addresses.Grpc.Port);
        Assert.Equal("127.0.0.1", server.Addresses.Http.Host);
    }

    [Fact]
    public async Task Stop_RequestInFlight_DrainsReadinessFalseNewRequests503InFlightCompletes()
    {
        using var repository = new TestRepository().WithSlow("slow", iterations: 2000, intraOpThreads: 1, maxBatchSize: 128);
        var server = await SluiceServer.StartAsync(repository, options => options.DrainTimeout = TimeSpan.FromSeconds(20), models: ["slow"]);
        await using var _ = server;
        var lifecycle = server.App.Services.GetRequiredService<ServerLifecycle>();

        // :: a request in flight
        // The HTTP edge admits each request once; once admitted it runs to completion even if SIGTERM comes before it
        // reaches the engine (the engine does not admit a second time). The request must outlast the checks below: once it
        // finishes the drain ends, Kestrel stops listening, and the "rejected" request finds the port closed. So it is
        // 128 rows on one ONNX Runtime thread (about 250 G multiply-adds, seconds), and the other core of the 2-core box
        // stays free for the test and the edge. With ONNX Runtime on both cores and 32-row requests, the test's
        // continuations waited for hundreds of milliseconds and the request sometimes finished before the checks.
        var inFlight = server.Client.PostAsync("v2/models/slow/infer", Json(SlowRequest(rows: 128)));
        await Conditions.WaitUntilAsync(() => lifecycle.InFlight >= 1 || inFlight.IsCompleted, Timeout, "the request was admitted");
        if (inFlight.IsCompleted)
        {
            using var early = await inFlight;
            Assert.Fail($"the slow request finished before shutdown began ({(int)early.StatusCode} {await early.Content.ReadAsStringAsync()})");
        }

        // :: shutdown begins (what SIGTERM does)
        var stopping = server.App.StopAsync();
        await Conditions.WaitUntilAsync(() => lifecycle.IsDraining, Timeout, "draining began");

        using var ready = await server.Client.GetAsync("v2/health/ready").WaitAsync(Timeout);
        using var rejected = await server.Client.PostAsync("v2/models/slow/infer", Json(SlowRequest(rows: 1))).WaitAsync(Timeout);
        using var completed = await inFlight.WaitAsync(Timeout);
        await stopping.WaitAsync(Timeout);

        Assert.NotEqual(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
        Assert.NotNull(rejected.Headers.RetryAfter);
        Assert.Contains("shutting down", await ReadErrorAsync(rejected));
        Assert.True(completed.StatusCode == HttpStatusCode.OK, await completed.Content.ReadAsStringAsync());
        Assert.Equal(0, lifecycle.InFlight);
    }

    internal static string SlowRequest(int rows) =>
        $$"""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[{{rows}},256],"data":[{{string.Join(",", Enumerable.Repeat("0.5", rows * 256))}}]}]}""";
}
