using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sluice.Engine.Hosting;
using Sluice.Server.Hosting;

namespace Sluice.Server.Tests.TestSupport;

/// <summary>A real server (Kestrel on 127.0.0.1, ports 0, the real engine) over a <see cref="TestRepository"/>.</summary>
internal sealed class SluiceServer : IAsyncDisposable
{
    private SluiceServer(WebApplication app, SluiceAddresses addresses)
    {
        App = app;
        Addresses = addresses;
        Client = new HttpClient { BaseAddress = addresses.Http, Timeout = TimeSpan.FromSeconds(60) };
    }

    public WebApplication App { get; }
    public SluiceAddresses Addresses { get; }
    public HttpClient Client { get; }

    public static Task<SluiceServer> StartAsync(
        TestRepository repository, Action<SluiceServerOptions>? configure = null, ModelControlMode mode = ModelControlMode.None, params string[] models)
    {
        var options = new SluiceServerOptions
        {
            ListenAddress = "127.0.0.1", HttpPort = 0, GrpcPort = 0, MetricsPort = 0, DrainTimeout = TimeSpan.FromSeconds(5),
            DataDirectory = repository.Path + ".data",   // each server its own SLO history, beside (not inside) the repository
        };
        configure?.Invoke(options);
        return StartAsync(options, repository.Path, mode, configureServices: null, models);
    }

    /// <summary>
    /// Starts a server with <paramref name="options"/> (listen on 127.0.0.1, ports 0) over <paramref name="repositoryPath"/>;
    /// <paramref name="configureServices"/> may replace our own seams (e.g. the SLO engine's clock). Returns once every one of
    /// <paramref name="models"/> is ready.
    /// </summary>
    public static async Task<SluiceServer> StartAsync(
        SluiceServerOptions options, string repositoryPath, ModelControlMode mode, Action<IServiceCollection>? configureServices, params string[] models)
    {
        var app = SluiceApplication.Build(options, repo =>
        {
            repo.RepositoryPath = repositoryPath;
            repo.ControlMode = mode;
        }, ["--Logging:LogLevel:Default=Warning"], configureServices);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var server = new SluiceServer(app, SluiceApplication.GetAddresses(app));
        foreach (var model in models)
        {
            try
            {
                await server.WaitUntilModelReadyAsync(model).WaitAsync(TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
                using var index = await server.Client.PostAsync("v2/repository/index", null);
                throw new TimeoutException($"model '{model}' not ready; index: {await index.Content.ReadAsStringAsync()}");
            }
        }

        return server;
    }

    /// <summary>Polls the model's readiness endpoint until it answers 200 (loading happens in the background).</summary>
    public async Task WaitUntilModelReadyAsync(string model)
    {
        while (true)
        {
            using var response = await Client.GetAsync($"v2/models/{model}/ready");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await App.DisposeAsync();
    }
}
