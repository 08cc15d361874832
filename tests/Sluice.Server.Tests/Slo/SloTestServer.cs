using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Sluice.Engine.Hosting;
using Sluice.Server.Hosting;
using Sluice.Server.Slo;
using Sluice.Server.Tests.TestSupport;
using Sluice.Slo.Evaluation;

namespace Sluice.Server.Tests.Slo;

/// <summary>
/// A real server (Kestrel on 127.0.0.1, ports 0, the real engine) with an SLO spec, a data folder and, optionally, a
/// <see cref="FakeTimeProvider"/> as the SLO engine's clock. With the fake clock the periodic loops never tick by themselves
/// (their periods are a day): the test moves the clock and calls <see cref="EvaluateAsync"/>, so each evaluation happens at
/// a time the test chose.
/// </summary>
internal sealed class SloTestServer : IAsyncDisposable
{
    private readonly SluiceServer _server;

    private SloTestServer(SluiceServer server) => _server = server;

    public WebApplication App => _server.App;
    public SluiceAddresses Addresses => _server.Addresses;
    public HttpClient Client => _server.Client;
    public SloEvaluator Evaluator => App.Services.GetRequiredService<SloEvaluator>();

    public static async Task<SloTestServer> StartAsync(
        string repositoryPath, string specPath, string dataDirectory, FakeTimeProvider? clock = null, string? webhookUrl = null, TimeSpan? samplingInterval = null, params string[] models)
    {
        var options = new SluiceServerOptions
        {
            ListenAddress = "127.0.0.1",
            HttpPort = 0,
            GrpcPort = 0,
            MetricsPort = 0,
            DrainTimeout = TimeSpan.FromSeconds(5),
            SloSpecPath = specPath,
            DataDirectory = dataDirectory,
            SloWebhookUrl = webhookUrl,
        };
        var server = await SluiceServer.StartAsync(options, repositoryPath, ModelControlMode.None,
            services =>
            {
                if (clock is not null)
                {
                    services.AddSingleton(new SloHostingSettings
                    {
                        Clock = clock,
                        EvaluationInterval = TimeSpan.FromDays(1),
                        SamplingInterval = samplingInterval ?? TimeSpan.FromDays(1),
                        WebhookFirstRetryDelay = TimeSpan.FromMilliseconds(20),
                    });
                }
            },
            models);
        return new SloTestServer(server);
    }

    /// <summary>Runs one evaluation now (the fake clock's now), as the evaluation loop would.</summary>
    public void Evaluate() => Evaluator.Evaluate();

    /// <summary>
    /// Waits until <paramref name="slo"/> has counted <paramref name="events"/> request events: the server tells its observers
    /// after the response was written, so a client can hold the response a moment before the event is counted.
    /// </summary>
    public Task WaitUntilCountedAsync(string slo, long events) =>
        Conditions.WaitUntilAsync(() => Evaluator.GetCounters().Single(c => c.Spec.Name == slo) is var c && c.Good + c.Bad >= events,
            TimeSpan.FromSeconds(30), $"{slo} counted {events} events");

    public async Task<JsonObject> GetSloAsync(string name)
    {
        using var response = await Client.GetAsync($"v2/slo/{name}").WaitAsync(TimeSpan.FromSeconds(30));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET /v2/slo/{name}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
