using Sluice.Bench.Clients;
using Sluice.Bench.Load;
using Sluice.Bench.Tests.TestSupport;
using Sluice.Bench.Workload;

namespace Sluice.Bench.Tests;

/// <summary>The generator against the real server on loopback: its counts against the server's own statistics, and its clock.</summary>
[Collection(BenchServerCollection.Name)]
public sealed class BenchRunnerTests(BenchServerFixture server)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private async Task<(IInferClient Client, IModelControl Control, HttpClient Http)> ConnectAsync(string model, BenchProtocol protocol)
    {
        var http = HttpInferClient.CreateHttpClient();
        if (protocol == BenchProtocol.Grpc)
        {
            var grpc = new GrpcInferClient(server.Addresses.Grpc);
            var metadata = await grpc.GetMetadataAsync(model, null, CancellationToken.None).WaitAsync(Timeout);
            grpc.Prepare(model, null, InputSynthesizer.Synthesize(metadata.Inputs, new SynthesisOptions { BatchSize = 2 }), metadata.Outputs);
            return (grpc, grpc, http);
        }

        var control = new HttpModelControl(http, server.Addresses.Http);
        var description = await control.GetMetadataAsync(model, null, CancellationToken.None).WaitAsync(Timeout);
        var workload = InputSynthesizer.Synthesize(description.Inputs, new SynthesisOptions { BatchSize = 2 });
        return (new HttpInferClient(server.Addresses.Http, model, null, workload, description.Outputs, protocol == BenchProtocol.HttpBinary, http), control, http);
    }

    [Theory]
    [InlineData("add_one", BenchProtocol.Http)]
    [InlineData("add_one_binary", BenchProtocol.HttpBinary)]
    [InlineData("add_one_grpc", BenchProtocol.Grpc)]
    public async Task RunStepAsync_ClosedLoop_SuccessesEqualServerStatistics(string model, BenchProtocol protocol)
    {
        var (client, control, http) = await ConnectAsync(model, protocol);
        using var _ = http;
        using var __ = client;
        var before = await server.ServerSuccessCountAsync(model);
        var runner = new BenchRunner(client, control, new BenchSettings
        {
            Model = model, Window = MeasurementWindow.For(TimeSpan.FromSeconds(1)), Warmup = TimeSpan.Zero, MaxTrials = 1, InferencesPerRequest = 2,
        });

        var step = await runner.RunStepAsync(LoadLevel.Closed(4), 0, 1, CancellationToken.None).WaitAsync(Timeout);
        var after = await server.ServerSuccessCountAsync(model);

        Assert.True(step.Recorder.Successes > 50, $"only {step.Recorder.Successes} requests");
        Assert.Equal(0, step.Failures);
        Assert.Equal(after - before, step.Recorder.Successes);
        Assert.Equal(after - before, step.Server!.Success.Count);
        Assert.Equal(step.Recorder.Successes, step.Recorder.Compute.Count);   // Sluice's per-request timing came back with every response
        Assert.Equal(2 * step.RequestsPerSecond, step.InferencesPerSecond, 6);
    }

    [Fact]
    public async Task RunStepAsync_CountWindowWithWarmup_MeasuresExactlyTheWindow()
    {
        var (client, control, http) = await ConnectAsync("add_one", BenchProtocol.Http);
        using var _ = http;
        using var __ = client;
        var runner = new BenchRunner(client, control, new BenchSettings
        {
            Model = "add_one", Window = MeasurementWindow.Count(137), Warmup = TimeSpan.FromMilliseconds(300), MaxTrials = 1,
        });

        var step = await runner.RunStepAsync(LoadLevel.Closed(3), 0, 1, CancellationToken.None).WaitAsync(Timeout);

        Assert.Equal(137, step.Recorder.Successes);
        Assert.Equal(137, step.Server!.Success.Count);   // the warm-up's requests fall outside the statistics deltas
    }

    [Fact]
    public async Task RunStepAsync_OpenLoopFixedRate_AchievesRateWithinTwoPercent()
    {
        var (client, control, http) = await ConnectAsync("add_one_open", BenchProtocol.Http);
        using var _ = http;
        using var __ = client;
        var runner = new BenchRunner(client, control, new BenchSettings
        {
            Model = "add_one_open", Window = MeasurementWindow.For(TimeSpan.FromSeconds(5)), Warmup = TimeSpan.FromMilliseconds(500), MaxTrials = 1,
        });

        var step = await runner.RunStepAsync(LoadLevel.Open(200), 0, 1, CancellationToken.None).WaitAsync(Timeout);

        // Achieved = successes over the window, from its start to its last response: a slow scheduler or slow responses lower it.
        Assert.Equal(1000, step.Recorder.Sent);
        Assert.Equal(0, step.Failures);
        Assert.InRange(step.RequestsPerSecond, 196, 204);
        Assert.Equal(step.Recorder.Successes, step.Server!.Success.Count);
    }

    [Fact]
    public async Task RunStepAsync_OpenLoopPoisson_SendsAboutRateTimesDuration()
    {
        var (client, control, http) = await ConnectAsync("add_one_open", BenchProtocol.Http);
        using var _ = http;
        using var __ = client;
        var runner = new BenchRunner(client, control, new BenchSettings
        {
            Model = "add_one_open", Window = MeasurementWindow.For(TimeSpan.FromSeconds(2)), Warmup = TimeSpan.Zero, MaxTrials = 1,
        });

        var step = await runner.RunStepAsync(LoadLevel.Open(300, ArrivalPattern.Poisson), 0, 1, CancellationToken.None).WaitAsync(Timeout);

        // A Poisson count over 2 s at 300/s has mean 600 and standard deviation ~24.5: ±5σ.
        Assert.InRange(step.Recorder.Sent, 478, 722);
        Assert.Equal(step.Recorder.Sent, step.Recorder.Successes);
    }

    [Fact]
    public async Task RunStepAsync_StabilityRule_RepeatsUntilThreeWindowsAgree()
    {
        var (client, control, http) = await ConnectAsync("add_one", BenchProtocol.Http);
        using var _ = http;
        using var __ = client;
        var runner = new BenchRunner(client, control, new BenchSettings
        {
            Model = "add_one", Window = MeasurementWindow.Count(100), Warmup = TimeSpan.Zero, MaxTrials = 8, StabilityPercentage = 200,
        });

        var step = await runner.RunStepAsync(LoadLevel.Open(400), 0, 1, CancellationToken.None).WaitAsync(Timeout);

        Assert.True(step.Stable);
        // Three non-negative values all lie within 200% of their mean, so every trio agrees and the rule stops at the first
        // three windows. (At 99% a single p99 spike on a loaded 2-core machine once made a fourth window.)
        Assert.Equal(3, step.Trials);
        Assert.Equal(300, step.Recorder.Successes);
        Assert.Equal(300, step.Server!.Success.Count);
    }
}
