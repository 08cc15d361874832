using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Core.Runtime;
using Sluice.Core.Serving;
using Sluice.Engine.Hosting;
using Sluice.Server.Hosting;

namespace Sluice.Server.Tests.Telemetry;

/// <summary>A real server (Kestrel on 127.0.0.1, every port 0) with telemetry on, optionally over a <see cref="GatedBackend"/>.</summary>
internal sealed class TelemetryServer : IAsyncDisposable
{
    private TelemetryServer(WebApplication app, SluiceAddresses addresses)
    {
        App = app;
        Addresses = addresses;
        Client = new HttpClient { BaseAddress = addresses.Http, Timeout = TimeSpan.FromSeconds(60) };
        MetricsClient = new HttpClient { BaseAddress = addresses.Metrics, Timeout = TimeSpan.FromSeconds(30) };
    }

    public WebApplication App { get; }
    public SluiceAddresses Addresses { get; }
    public HttpClient Client { get; }
    public HttpClient MetricsClient { get; }

    public static async Task<TelemetryServer> StartAsync(
        string repository, IModelBackend? backend = null, Action<SluiceServerOptions>? configure = null, params string[] models)
    {
        var options = new SluiceServerOptions
        {
            ListenAddress = "127.0.0.1", HttpPort = 0, GrpcPort = 0, MetricsPort = 0, DrainTimeout = TimeSpan.FromSeconds(5),
            DataDirectory = Path.Combine(repository, ".data"),
        };
        configure?.Invoke(options);
        var app = SluiceApplication.Build(options, repo => repo.RepositoryPath = repository, ["--Logging:LogLevel:Default=Warning"], services =>
        {
            if (backend is not null)
            {
                // The engine's ModelManager over the given backend (registered first: the engine adds its own with TryAdd).
                services.AddSingleton(sp => new ModelManager(
                    sp.GetRequiredService<IOptions<ModelRepositoryOptions>>(), backend,
                    sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ModelManager>>(),
                    observers: sp.GetServices<IInferenceObserver>()));
            }
        });
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var server = new TelemetryServer(app, SluiceApplication.GetAddresses(app));
        foreach (var model in models)
        {
            await server.WaitUntilReadyAsync(model).WaitAsync(TimeSpan.FromSeconds(60));
        }

        return server;
    }

    public async Task<PrometheusText> ScrapeAsync()
    {
        using var response = await MetricsClient.GetAsync("metrics").WaitAsync(TimeSpan.FromSeconds(30));
        response.EnsureSuccessStatusCode();
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>Scrapes until <paramref name="condition"/> holds (the server tells observers after the client saw the response).</summary>
    public async Task<PrometheusText> ScrapeUntilAsync(Func<PrometheusText, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var scraped = await ScrapeAsync();
            if (condition(scraped))
            {
                return scraped;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting for {what}; last scrape:\n{scraped.Text}");
            }

            await Task.Delay(50);
        }
    }

    private async Task WaitUntilReadyAsync(string model)
    {
        while (true)
        {
            using var response = await Client.GetAsync($"v2/models/{model}/ready");
            if (response.IsSuccessStatusCode)
            {
                return;
            }

            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        MetricsClient.Dispose();
        await App.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await App.DisposeAsync();
    }
}
