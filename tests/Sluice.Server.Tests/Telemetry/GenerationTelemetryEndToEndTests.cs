using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Sluice.Core.Generation;
using Sluice.Engine.Repository;
using Sluice.Server.Hosting;
using Sluice.Server.Slo;
using Sluice.Slo.Evaluation;

namespace Sluice.Server.Tests.Telemetry;

/// <summary>
/// A real server serving tiny-llama on ONNX Runtime: sequences generated through the engine's <see cref="IGenerationService"/>
/// show up on <c>/metrics</c> with the counts the engine reported to their callers, and in <c>GET /v2/slo</c> as ttft and itl
/// events.
/// </summary>
public sealed class GenerationTelemetryEndToEndTests : IDisposable
{
    private const string Model = DemoRepository.DecoderModelName;

    private static readonly (string Key, string Value) ModelName = ("model_name", Model);

    private readonly string _root = Directory.CreateTempSubdirectory("sluice-llm-telemetry-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Generate_FourFinishedAndOneCancelled_MetricsMatchTheEnginesUsageAndSloCountsTheFinished()
    {
        var repository = Directory.CreateDirectory(Path.Combine(_root, "models")).FullName;
        DemoRepository.WriteTinyLlama(repository);
        var spec = Path.Combine(_root, "slo.yaml");
        File.WriteAllText(spec, """
            slos:
              - {name: tiny-llama-ttft, model: tiny-llama, objective: 99, window: 1d, sli: {ttft: {threshold: 30s}}}
              - {name: tiny-llama-itl, model: tiny-llama, objective: 99, window: 1d, sli: {itl: {threshold: 5s, statistic: p95}}}
            """);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
        var gate = new StepGate();
        await using var server = await StartAsync(repository, spec, clock, gate);
        var generation = server.App.Services.GetRequiredService<IGenerationService>();
        Assert.True(generation.TryGetModel(Model, out _), "tiny-llama did not load");
        using var metrics = new HttpClient { BaseAddress = SluiceApplication.GetAddresses(server.App).Metrics };
        using var http = new HttpClient { BaseAddress = SluiceApplication.GetAddresses(server.App).Http };

        // :: Loaded, idle: every series from load on, at 0.
        var idle = await ScrapeAsync(metrics);
        Assert.Equal(0, idle.Value("sluice_llm_prompt_tokens_total", ModelName));
        Assert.Equal(0, idle.Value("sluice_llm_generation_tokens_total", ModelName));
        Assert.Equal(0, idle.Value("sluice_llm_request_success_total", ModelName, ("finished_reason", "length")));
        Assert.Equal(0, idle.Value("sluice_llm_num_requests_running", ModelName));
        Assert.Equal(0, idle.Value("sluice_llm_num_requests_waiting", ModelName));
        Assert.Equal(0, idle.Value("sluice_llm_kv_cache_usage_perc", ModelName));

        // :: A long sequence, running while we scrape, then cancelled by its client.
        var longPrompt = generation.Tokenize(Model, "The gauges read the scheduler while this sequence runs");
        using var cancel = new CancellationTokenSource();
        var handle = generation.Start(new GenerationRequest(Model, longPrompt,
            new SamplingParameters(MaxTokens: 2000 - longPrompt.Length, Temperature: 0f, IgnoreEos: true)), cancel.Token);
        await using (handle)
        {
            var updates = handle.Updates().GetAsyncEnumerator();
            gate.Close();   // the scheduler pauses after its next step, so the sequence is still running while we scrape
            Assert.True(await updates.MoveNextAsync());
            var running = await ScrapeUntilAsync(metrics, s => s.Value("sluice_llm_num_requests_running", ModelName) == 1, "the long sequence running");
            Assert.InRange(running.Value("sluice_llm_kv_cache_usage_perc", ModelName), 1e-6, 1);
            Assert.Equal(0, running.Value("sluice_llm_num_requests_waiting", ModelName));
            cancel.Cancel();
            gate.Open();
            var cancelled = await LastAsync(updates);
            Assert.Equal(FinishReason.Cancelled, cancelled.Finish);
            Assert.True(cancelled.Usage!.CompletionTokens is >= 1 and < 1900, $"{cancelled.Usage.CompletionTokens} tokens before the cancel");

            // :: Four sequences at once (one decode batch), each to max_tokens.
            var prompts = new[] { "Hello", "Continuous batching shares decode steps", "A KV cache of blocks", "Four" };
            var finals = await Task.WhenAll(prompts.Select((text, i) => RunAsync(generation,
                new GenerationRequest(Model, generation.Tokenize(Model, text), new SamplingParameters(MaxTokens: 8 + (4 * i), Temperature: 0f, IgnoreEos: true)))));
            Assert.All(finals, f => Assert.Equal(FinishReason.Length, f.Finish));
            var usages = finals.Select(f => f.Usage!).Append(cancelled.Usage).ToList();

            // :: The scrape agrees with what the engine told its callers (observers are told after the final update: poll).
            var done = await ScrapeUntilAsync(metrics, s =>
                s.Value("sluice_llm_request_success_total", ModelName, ("finished_reason", "length")) == 4 &&
                s.Value("sluice_llm_request_success_total", ModelName, ("finished_reason", "abort")) == 1, "five sequences ended");
            Assert.Equal(usages.Sum(u => u.PromptTokens), done.Value("sluice_llm_prompt_tokens_total", ModelName));
            Assert.Equal(usages.Sum(u => u.CompletionTokens), done.Value("sluice_llm_generation_tokens_total", ModelName));
            Assert.Equal(0, done.Value("sluice_llm_request_success_total", ModelName, ("finished_reason", "stop")));
            Assert.Equal(0, done.Value("sluice_llm_request_success_total", ModelName, ("finished_reason", "error")));
            Assert.Equal(5, done.Value("sluice_llm_time_to_first_token_seconds_count", ModelName));
            Assert.Equal(usages.Sum(u => u.CompletionTokens - 1), done.Value("sluice_llm_inter_token_latency_seconds_count", ModelName));
            Assert.Equal(4, done.Value("sluice_llm_e2e_request_latency_seconds_count", ModelName));
            Assert.Equal(finals.Sum(f => f.Usage!.CompletionTokens), done.Value("sluice_llm_request_generation_tokens_sum", ModelName));
            Assert.Equal(finals.Sum(f => f.Usage!.EndToEnd.TotalSeconds), done.Value("sluice_llm_e2e_request_latency_seconds_sum", ModelName), 6);
            Assert.True(done.Value("sluice_llm_prefill_step_time_seconds_count", ModelName) >= 2);   // the long one, then the four
            Assert.True(done.Value("sluice_llm_decode_step_time_seconds_count", ModelName) >= 20);   // the longest of the four: 20 tokens
            Assert.Equal(0, done.Value("sluice_llm_num_requests_running", ModelName));
            Assert.Equal(0, done.Value("sluice_llm_kv_cache_usage_perc", ModelName));
            var stats = Assert.Single(generation.GetStats());
            Assert.Equal((5, 4, 1, 0), (stats.Admitted, stats.Finished, stats.Cancelled, stats.Failed));

            // :: The SLO engine counted the four finished sequences (the cancelled one is not counted) for ttft and itl.
            Assert.Equal(4, done.Value("sluice_slo_events_total", ("slo", "tiny-llama-ttft"), ("outcome", "good")));
            Assert.Equal(0, done.Value("sluice_slo_events_total", ("slo", "tiny-llama-ttft"), ("outcome", "bad")));
            clock.Advance(TimeSpan.FromMinutes(1));
            server.App.Services.GetRequiredService<SloEvaluator>().Evaluate();
            foreach (var name in (string[])["tiny-llama-ttft", "tiny-llama-itl"])
            {
                using var response = await http.GetAsync($"v2/slo/{name}");
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.OK, body);
                var slo = JsonNode.Parse(body)!.AsObject();
                Assert.Equal(name[("tiny-llama-".Length)..], (string)slo["sli_kind"]!);
                Assert.Equal("ok", (string)slo["state"]!);
                Assert.Equal((4.0, 4.0), ((double)slo["good"]!, (double)slo["total"]!));
                Assert.Equal(1.0, (double)slo["sli"]!);
            }
        }
    }

    private static async Task<GenerationUpdate> RunAsync(IGenerationService generation, GenerationRequest request)
    {
        await using var handle = generation.Start(request, CancellationToken.None);
        return await LastAsync(handle.Updates().GetAsyncEnumerator());
    }

    /// <summary>Reads the updates to the end; returns the final one (with usage).</summary>
    private static async Task<GenerationUpdate> LastAsync(IAsyncEnumerator<GenerationUpdate> updates)
    {
        GenerationUpdate? last = null;
        await using (updates)
        {
            while (await updates.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60)))
            {
                last = updates.Current;
            }
        }

        Assert.NotNull(last?.Finish);
        Assert.NotNull(last.Usage);
        return last;
    }

    private static async Task<PrometheusText> ScrapeAsync(HttpClient metrics)
    {
        using var response = await metrics.GetAsync("metrics").WaitAsync(TimeSpan.FromSeconds(30));
        response.EnsureSuccessStatusCode();
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
    }

    private static async Task<PrometheusText> ScrapeUntilAsync(HttpClient metrics, Func<PrometheusText, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var scraped = await ScrapeAsync(metrics);
            if (condition(scraped))
            {
                return scraped;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"timed out waiting for {what}; last scrape:\n{scraped.Text}");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>
    /// The server over <paramref name="repository"/> with the SLO engine on <paramref name="clock"/> (it evaluates only when the
    /// test says).
    /// </summary>
    private static async Task<StartedServer> StartAsync(string repository, string spec, FakeTimeProvider clock, StepGate gate)
    {
        var options = new SluiceServerOptions
        {
            ListenAddress = "127.0.0.1", HttpPort = 0, GrpcPort = 0, MetricsPort = 0, DrainTimeout = TimeSpan.FromSeconds(5),
            SloSpecPath = spec, DataDirectory = Path.Combine(Path.GetDirectoryName(repository)!, "data"),
        };
        var app = SluiceApplication.Build(options, repo => repo.RepositoryPath = repository, ["--Logging:LogLevel:Default=Warning"],
            services =>
            {
                services.AddSingleton(new SloHostingSettings
                {
                    Clock = clock, EvaluationInterval = TimeSpan.FromDays(1), SamplingInterval = TimeSpan.FromDays(1),
                });
                services.AddSingleton<IGenerationObserver>(gate);
            });
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return new StartedServer(app);
    }
}

/// <summary>
/// Holds the generation scheduler after a step while closed (it is called on the scheduler thread), so a test can look at a
/// sequence that is certainly still running however fast the engine or however slow the test's own thread.
/// </summary>
internal sealed class StepGate : IGenerationObserver
{
    private readonly ManualResetEventSlim _open = new(initialState: true);

    public void Close() => _open.Reset();

    public void Open() => _open.Set();

    public void FirstToken(string model, TimeSpan timeToFirstToken, TimeSpan queue)
    {
    }

    public void NextToken(string model, TimeSpan interTokenLatency)
    {
    }

    public void SequenceEnded(string model, string protocol, FinishReason reason, GenerationUsage usage, TimeSpan p95InterTokenLatency)
    {
    }

    public void StepExecuted(in GenerationStep step) => _open.Wait(TimeSpan.FromSeconds(30));
}

/// <summary>A started server that is stopped (drained) and disposed at the end of the test.</summary>
internal sealed class StartedServer(WebApplication app) : IAsyncDisposable
{
    public WebApplication App { get; } = app;

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await App.DisposeAsync();
    }
}
