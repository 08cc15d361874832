using Microsoft.Extensions.DependencyInjection;
using Sluice.Core.Generation;
using Sluice.Engine.Repository;
using Sluice.Server.Slo;
using Sluice.Server.Telemetry;
using Sluice.Server.Tests.TestSupport;
using Sluice.Slo.Rules;

namespace Sluice.Server.Tests.Telemetry;

/// <summary>
/// The LLM metrics as a real server exposes them on <c>/metrics</c>: the observer is driven directly (as the generation
/// engine's scheduler calls it), then the exposition text is read back and checked for vLLM's names, labels and exact counts.
/// </summary>
public sealed class GenerationMetricsTests
{
    private const string Model = "tiny-llama";

    private static readonly (string Key, string Value) ModelName = ("model_name", Model);

    /// <summary>Every sluice_llm_* family, as exposed (names after the exporter's suffixes), with its type.</summary>
    private static readonly Dictionary<string, string> Families = new()
    {
        ["sluice_llm_time_to_first_token_seconds"] = "histogram",
        ["sluice_llm_inter_token_latency_seconds"] = "histogram",
        ["sluice_llm_e2e_request_latency_seconds"] = "histogram",
        ["sluice_llm_request_queue_time_seconds"] = "histogram",
        ["sluice_llm_request_prefill_time_seconds"] = "histogram",
        ["sluice_llm_request_decode_time_seconds"] = "histogram",
        ["sluice_llm_request_inference_time_seconds"] = "histogram",
        ["sluice_llm_request_time_per_output_token_seconds"] = "histogram",
        ["sluice_llm_prefill_step_time_seconds"] = "histogram",
        ["sluice_llm_decode_step_time_seconds"] = "histogram",
        ["sluice_llm_request_prompt_tokens"] = "histogram",
        ["sluice_llm_request_generation_tokens"] = "histogram",
        ["sluice_llm_iteration_tokens_total"] = "histogram",
        ["sluice_llm_prompt_tokens_total"] = "counter",
        ["sluice_llm_generation_tokens_total"] = "counter",
        ["sluice_llm_request_success_total"] = "counter",
    };

    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    /// <summary>
    /// Four sequences as the scheduler would report them: A stops after 3 tokens, B is cancelled after 2, C fails before its
    /// first token, D reaches max_tokens at 1 token. Five steps: prefill A+B (12 tokens), decode A+B, decode A, prefill C (4),
    /// prefill D (3).
    /// </summary>
    private static void Drive(IGenerationObserver observer)
    {
        observer.StepExecuted(new GenerationStep(Model, 2, 12, Ms(2), 0, TimeSpan.Zero));
        observer.FirstToken(Model, Ms(30), Ms(10));    // A
        observer.FirstToken(Model, Ms(700), Ms(50));   // B
        observer.StepExecuted(new GenerationStep(Model, 0, 0, TimeSpan.Zero, 2, Ms(1)));
        observer.NextToken(Model, Ms(4));              // A
        observer.NextToken(Model, Ms(6));              // B
        observer.StepExecuted(new GenerationStep(Model, 0, 0, TimeSpan.Zero, 1, Ms(1)));
        observer.NextToken(Model, Ms(4));              // A
        observer.SequenceEnded(Model, "openai", FinishReason.Stop, new GenerationUsage(5, 3, Ms(10), Ms(30), Ms(40), Ms(4)), Ms(4));
        observer.SequenceEnded(Model, "openai", FinishReason.Cancelled, new GenerationUsage(7, 2, Ms(50), Ms(700), Ms(710), Ms(6)), Ms(6));
        observer.StepExecuted(new GenerationStep(Model, 1, 4, Ms(1), 0, TimeSpan.Zero));
        observer.SequenceEnded(Model, "kserve", FinishReason.Error, new GenerationUsage(4, 0, Ms(5), TimeSpan.Zero, Ms(8), TimeSpan.Zero), TimeSpan.Zero);
        observer.StepExecuted(new GenerationStep(Model, 1, 3, Ms(1), 0, TimeSpan.Zero));
        observer.FirstToken(Model, Ms(250), Ms(1));    // D
        observer.SequenceEnded(Model, "openai", FinishReason.Length, new GenerationUsage(3, 1, Ms(1), Ms(250), Ms(250), TimeSpan.Zero), TimeSpan.Zero);
    }

    [Fact]
    public async Task Scrape_AfterDrivenSequences_VllmNamesModelNameLabelAndExactCounts()
    {
        using var repository = new TestRepository().WithAddOne();
        DemoRepository.WriteTinyLlama(repository.Path);   // a decoder folder, so the spec may name the model
        var spec = Path.Combine(repository.Path + ".data", "slo.yaml");
        Directory.CreateDirectory(Path.GetDirectoryName(spec)!);
        File.WriteAllText(spec, """
            slos:
              - {name: fast-first-token, model: tiny-llama, objective: 99, sli: {ttft: {threshold: 300ms}}}
              - {name: smooth-tokens, model: tiny-llama, objective: 99, sli: {itl: {threshold: 7ms, statistic: p95}}}
            """);
        await using var server = await TelemetryServer.StartAsync(repository.Path, configure: o => o.SloSpecPath = spec, models: "add_one");
        var metrics = server.App.Services.GetRequiredService<GenerationMetrics>();
        var observers = server.App.Services.GetServices<IGenerationObserver>().ToList();
        Assert.Contains(metrics, observers);
        Assert.Contains(observers, o => o is SloGenerationObserver);

        foreach (var observer in observers)
        {
            Drive(observer);   // as the scheduler does: every registered observer is told
        }

        var scraped = await server.ScrapeAsync();

        // :: Names and types exactly: every family, nothing else under the prefix.
        var exposed = scraped.Types.Where(t => t.Key.StartsWith("sluice_llm_", StringComparison.Ordinal))
            .Where(t => !t.Key.StartsWith("sluice_llm_num_", StringComparison.Ordinal) && t.Key != "sluice_llm_kv_cache_usage_perc")
            .ToDictionary();
        Assert.Equal(Families.OrderBy(f => f.Key), exposed.OrderBy(f => f.Key));
        Assert.Equal(GrafanaDashboardGenerator.TimeToFirstTokenHistogram, "sluice_llm_time_to_first_token_seconds");
        Assert.Equal(GrafanaDashboardGenerator.InterTokenLatencyHistogram, "sluice_llm_inter_token_latency_seconds");
        Assert.Equal(GrafanaDashboardGenerator.TimePerOutputTokenHistogram, "sluice_llm_request_time_per_output_token_seconds");

        // :: Labels: model_name only (le on buckets, finished_reason on the success counter); no exporter additions.
        Assert.All(scraped.Samples.Where(s => s.Name.StartsWith("sluice_llm_", StringComparison.Ordinal)), s =>
        {
            var expected = s.Name.EndsWith("_bucket", StringComparison.Ordinal) ? new[] { "le", "model_name" }
                : s.Name == "sluice_llm_request_success_total" ? ["finished_reason", "model_name"]
                : ["model_name"];
            Assert.Equal(expected, s.Labels.Keys.Order());
            Assert.Equal(Model, s.Labels["model_name"]);
        });

        // :: Counters.
        Assert.Equal(12 + 4 + 3, scraped.Value("sluice_llm_prompt_tokens_total", ModelName));
        Assert.Equal(3 + 3, scraped.Value("sluice_llm_generation_tokens_total", ModelName));
        foreach (var reason in (string[])["stop", "length", "abort", "error"])
        {
            Assert.Equal(1, scraped.Value("sluice_llm_request_success_total", ModelName, ("finished_reason", reason)));
        }

        // :: Per-token histograms: every first token (A, B, D) and every later gap, whatever the sequence's end.
        Assert.Equal(3, scraped.Value("sluice_llm_time_to_first_token_seconds_count", ModelName));
        Assert.Equal(0.98, scraped.Value("sluice_llm_time_to_first_token_seconds_sum", ModelName), 9);
        Assert.Equal(2, scraped.Value("sluice_llm_time_to_first_token_seconds_bucket", ModelName, ("le", "0.3")));   // the SLO threshold is a bound
        Assert.Equal(3, scraped.Value("sluice_llm_inter_token_latency_seconds_count", ModelName));
        Assert.Equal(2, scraped.Value("sluice_llm_inter_token_latency_seconds_bucket", ModelName, ("le", "0.005")));
        Assert.Equal(3, scraped.Value("sluice_llm_inter_token_latency_seconds_bucket", ModelName, ("le", "0.007")));   // the SLO threshold is a bound
        Assert.Single(scraped.Find("sluice_llm_e2e_request_latency_seconds_bucket", ModelName, ("le", "640")));   // the long tail

        // :: Per-request histograms: finished sequences only (A stop, D length).
        foreach (var (histogram, sum) in new[]
        {
            ("sluice_llm_e2e_request_latency_seconds", 0.040 + 0.250),
            ("sluice_llm_request_queue_time_seconds", 0.010 + 0.001),
            ("sluice_llm_request_prefill_time_seconds", 0.020 + 0.249),
            ("sluice_llm_request_decode_time_seconds", 0.010 + 0),
            ("sluice_llm_request_inference_time_seconds", 0.030 + 0.249),
            ("sluice_llm_request_prompt_tokens", 5 + 3),
            ("sluice_llm_request_generation_tokens", 3 + 1),
        })
        {
            Assert.Equal(2, scraped.Value(histogram + "_count", ModelName));
            Assert.Equal(sum, scraped.Value(histogram + "_sum", ModelName), 9);
        }

        Assert.Equal(1, scraped.Value("sluice_llm_request_time_per_output_token_seconds_count", ModelName));   // only A has a gap
        Assert.Equal(0.004, scraped.Value("sluice_llm_request_time_per_output_token_seconds_sum", ModelName), 9);

        // :: Per-step histograms.
        Assert.Equal(3, scraped.Value("sluice_llm_prefill_step_time_seconds_count", ModelName));
        Assert.Equal(0.004, scraped.Value("sluice_llm_prefill_step_time_seconds_sum", ModelName), 9);
        Assert.Equal(2, scraped.Value("sluice_llm_decode_step_time_seconds_count", ModelName));
        Assert.Equal(5, scraped.Value("sluice_llm_iteration_tokens_total_count", ModelName));
        Assert.Equal(12 + 2 + 1 + 4 + 3, scraped.Value("sluice_llm_iteration_tokens_total_sum", ModelName));
        Assert.Equal(4, scraped.Value("sluice_llm_iteration_tokens_total_bucket", ModelName, ("le", "8")));

        // :: The SLO engine saw the same sequences. ttft ≤ 300 ms: A and D good, C (failed) bad, B (cancelled) not counted.
        //    p95 ITL ≤ 7 ms: A good, C bad; B cancelled and D (one token, no gap) not counted.
        Assert.Equal(2, scraped.Value("sluice_slo_events_total", ("slo", "fast-first-token"), ("outcome", "good")));
        Assert.Equal(1, scraped.Value("sluice_slo_events_total", ("slo", "fast-first-token"), ("outcome", "bad")));
        Assert.Equal(1, scraped.Value("sluice_slo_events_total", ("slo", "smooth-tokens"), ("outcome", "good")));
        Assert.Equal(1, scraped.Value("sluice_slo_events_total", ("slo", "smooth-tokens"), ("outcome", "bad")));
    }

    [Fact]
    public async Task Scrape_NoDecoderModels_NoLlmSeriesUntilAModelIsSeenAndNoGauges()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "add_one");
        Assert.Empty(server.App.Services.GetRequiredService<IGenerationService>().GetStats());

        var before = await server.ScrapeAsync();
        server.App.Services.GetRequiredService<GenerationMetrics>().FirstToken("other", Ms(5), Ms(1));
        var after = await server.ScrapeAsync();

        Assert.DoesNotContain(before.Samples, s => s.Name.StartsWith("sluice_llm_", StringComparison.Ordinal));
        Assert.Empty(after.Find("sluice_llm_num_requests_running"));
        Assert.Empty(after.Find("sluice_llm_kv_cache_usage_perc"));
        Assert.Equal(1, after.Value("sluice_llm_generation_tokens_total", ("model_name", "other")));
        Assert.Equal(0, after.Value("sluice_llm_prompt_tokens_total", ("model_name", "other")));
        Assert.Equal(0, after.Value("sluice_llm_request_success_total", ("model_name", "other"), ("finished_reason", "stop")));
    }
}
