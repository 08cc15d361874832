using System.Net;
using Microsoft.AspNetCore.Builder;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Server.Hosting;

namespace Sluice.Bench.Tests.TestSupport;

/// <summary>
/// One real Sluice server (Kestrel on 127.0.0.1, ports 0, the real engine and ONNX Runtime) over a temporary repository of
/// small models, shared by the tests of <see cref="BenchServerCollection"/> (which run one after another, so their load
/// does not overlap).
/// </summary>
public sealed class BenchServerFixture : IAsyncLifetime
{
    /// <summary>Models in the repository: <c>add_one</c> (FP32 [-1,4]) and <c>ids</c> (INT64 identity [-1,2]), each its own statistics.</summary>
    public static readonly string[] Models = ["add_one", "add_one_grpc", "add_one_binary", "add_one_open", "add_one_report", "add_one_slo", "ids"];

    private WebApplication? _app;

    public string RepositoryPath { get; } = Directory.CreateTempSubdirectory("sluice-bench-").FullName;

    public SluiceAddresses Addresses { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        foreach (var model in Models.Where(m => m.StartsWith("add_one", StringComparison.Ordinal)))
        {
            SampleModels.WriteAddOne(ModelFile(model));
        }

        SampleModels.WriteIdentity(ModelFile("ids"), DataType.Int64, [-1, 2]);
        var options = new SluiceServerOptions
        {
            ListenAddress = "127.0.0.1", HttpPort = 0, GrpcPort = 0, MetricsPort = 0, EnableTelemetry = false,
            DrainTimeout = TimeSpan.FromSeconds(5), DataDirectory = Path.Combine(RepositoryPath, ".data"),
        };
        _app = SluiceApplication.Build(options, repo => repo.RepositoryPath = RepositoryPath, ["--Logging:LogLevel:Default=Warning"]);
        await _app.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Addresses = SluiceApplication.GetAddresses(_app);
        Client = new HttpClient { BaseAddress = Addresses.Http, Timeout = TimeSpan.FromSeconds(30) };
        foreach (var model in Models)
        {
            await WaitReadyAsync(model).WaitAsync(TimeSpan.FromSeconds(60));
        }
    }

    private async Task WaitReadyAsync(string model)
    {
        while (true)
        {
            using var response = await Client.GetAsync($"v2/models/{model}/ready");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));   // polling a readiness endpoint, not waiting for something to settle
        }
    }

    /// <summary>The server's own count of successful requests of <paramref name="model"/> (Triton statistics JSON), read directly.</summary>
    public async Task<long> ServerSuccessCountAsync(string model)
    {
        var json = await Client.GetStringAsync($"v2/models/{model}/stats").WaitAsync(TimeSpan.FromSeconds(10));
        using var document = System.Text.Json.JsonDocument.Parse(json);
        return document.RootElement.GetProperty("model_stats").EnumerateArray()
            .Where(e => e.GetProperty("name").GetString() == model)
            .Sum(e => e.GetProperty("inference_stats").GetProperty("success").GetProperty("count").GetInt64());
    }

    public string ModelFile(string model) => Path.Combine(RepositoryPath, model, "1", "model.onnx");

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await _app.DisposeAsync();
        }

        try
        {
            Directory.Delete(RepositoryPath, recursive: true);
        }
        catch (IOException)
        {
            // a model file still mapped while sessions are disposed; the temp folder is cleaned later
        }
    }
}

[CollectionDefinition(Name)]
public sealed class BenchServerCollection : ICollectionFixture<BenchServerFixture>
{
    public const string Name = "bench server";
}
