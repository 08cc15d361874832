using System.Text.Json;
using Sluice.Core.Generation;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Rules;
using Sluice.Slo.Spec;
using Sluice.Slo.Tests.TestSupport;

namespace Sluice.Slo.Tests.Rules;

/// <summary>ttft and itl SLOs through the generated Prometheus rules (checked and run by the real promtool) and the Grafana
/// dashboard.</summary>
public sealed class TokenLatencyRuleTests
{
    private const string Spec = """
        slos:
          - name: llm-ttft
            model: tiny-llama
            objective: 99
            window: 7d
            sli:
              ttft: {threshold: 500ms}
          - name: llm-itl
            model: tiny-llama
            objective: 95
            window: 1d
            sli:
              itl: {threshold: 50ms, statistic: p95}
          - name: llm-itl-mean
            model: tiny-llama
            objective: 99.5
            sli:
              itl: {threshold: 40ms}
        """;

    private static IReadOnlyList<SloSpec> Slos()
    {
        var set = SloSpecLoader.Parse(Spec, "slo.yaml");
        Assert.True(set.IsValid, string.Join("\n", set.Errors));
        return set.Slos;
    }

    [Fact]
    public async Task Generate_TtftAndItl_PassesPromtoolCheckRulesOverTheEventCounter()
    {
        var rules = PrometheusRuleGenerator.Generate(Slos());
        using var temp = new TempDirectory();
        await File.WriteAllTextAsync(temp.File("rules.yaml"), rules);

        var (exitCode, output) = await Promtool.RunAsync(temp.Path, "check", "rules", "rules.yaml");

        Assert.True(exitCode == 0, output);
        Assert.Contains("SUCCESS", output);
        Assert.Contains("sluice-slo-llm-ttft", rules);
        Assert.Contains("sum(rate(sluice_slo_events_total{slo=\"llm-itl\",outcome=\"bad\"}[1d]))", rules);
    }

    /// <summary>
    /// 3 h clean, then an hour in which every sequence stalls (p95 ITL over 50 ms), then clean: promtool, running the generated
    /// rules on the engine's exported event counters, must fire and resolve exactly the alerts the engine does and agree on
    /// SLI and budget at every checkpoint.
    /// </summary>
    [Fact]
    public async Task PromtoolTestRules_SequencesTripAndClearTheItlPage_PrometheusAgreesWithEngine()
    {
        var slos = Slos();
        var scenario = new PromtoolScenario(slos);
        for (int minute = 0; minute < 300; minute++)
        {
            bool stalling = minute is >= 180 and < 240;
            scenario.RunMinute(sink =>
            {
                for (int i = 0; i < 100; i++)
                {
                    var p95 = stalling ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromMilliseconds(20);
                    var ttft = i % 50 == 0 ? TimeSpan.FromMilliseconds(900) : TimeSpan.FromMilliseconds(100);
                    sink.RecordSequence(new SequenceOutcome("tiny-llama", FinishReason.Stop, 32, ttft, TimeSpan.FromMilliseconds(15), p95));
                    sink.RecordSequence(new SequenceOutcome("tiny-llama", FinishReason.Cancelled, 3, ttft, p95, p95));
                }
            });
        }

        var itlPage = scenario.Transitions.Where(t => t.Transition.Spec.Name == "llm-itl" && t.Transition.Severity == AlertSeverity.Page)
            .Select(t => t.Transition.To).ToList();
        Assert.True(itlPage.Contains(AlertState.Firing) && itlPage[^1] == AlertState.Resolved, string.Join(",", itlPage));
        Assert.Equal(0.98, scenario.StatusAt(300, "llm-ttft").Sli!.Value, 9);   // 2 of 100 over 500 ms; cancelled not counted

        var checkpoints = scenario.Transitions.SelectMany(t => new[] { t.Minute - 1, t.Minute, t.Minute + 1 })
            .Concat(Enumerable.Range(1, 30).Select(i => i * 10)).ToList();
        using var temp = new TempDirectory();
        await File.WriteAllTextAsync(temp.File("rules.yaml"), PrometheusRuleGenerator.Generate(slos));
        await File.WriteAllTextAsync(temp.File("test.yaml"), scenario.WriteTestFile("rules.yaml", checkpoints));

        var (exitCode, output) = await Promtool.RunAsync(temp.Path, "test", "rules", "test.yaml");

        Assert.True(exitCode == 0, output.Length > 6000 ? output[..6000] : output);
        Assert.Contains("SUCCESS", output);
    }

    [Fact]
    public void GrafanaDashboard_TtftAndItl_AddATokenLatencyPanelAgainstTheThreshold()
    {
        var slos = Slos();

        using var document = JsonDocument.Parse(GrafanaDashboardGenerator.Generate(slos));

        var panels = document.RootElement.GetProperty("panels").EnumerateArray().ToList();
        Assert.Equal(slos.Count * 5, panels.Count);   // row, SLI, budget, burn rates, token latency
        var latency = panels.Where(p => p.GetProperty("title").GetString()!.Contains("threshold", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, latency.Count);
        Assert.Equal(
            [
                "histogram_quantile(0.95, sum by (le) (rate(sluice_llm_time_to_first_token_seconds_bucket{model_name=\"tiny-llama\"}[5m])))",
                "histogram_quantile(0.95, sum by (le) (rate(sluice_llm_inter_token_latency_seconds_bucket{model_name=\"tiny-llama\"}[5m])))",
                "histogram_quantile(0.95, sum by (le) (rate(sluice_llm_request_time_per_output_token_seconds_bucket{model_name=\"tiny-llama\"}[5m])))",
            ],
            latency.Select(p => p.GetProperty("targets")[1].GetProperty("expr").GetString()));
        Assert.Equal([0.5, 0.05, 0.04], latency.Select(p =>
            p.GetProperty("fieldConfig").GetProperty("defaults").GetProperty("thresholds").GetProperty("steps")[1].GetProperty("value").GetDouble()));
        Assert.All(latency, p => Assert.Equal("s", p.GetProperty("fieldConfig").GetProperty("defaults").GetProperty("unit").GetString()));
        Assert.Equal(panels.Count, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
    }
}
