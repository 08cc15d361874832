using Sluice.Slo.Spec;

namespace Sluice.Slo.Tests.Spec;

/// <summary>The ttft and itl SLI kinds in both spec formats: what parses, and errors that name the field.</summary>
public sealed class TokenLatencySpecTests
{
    [Fact]
    public void Parse_TtftAndItl_ReadAsSequenceBasedOccurrencesSlis()
    {
        const string yaml = """
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
                sli:
                  itl: {threshold: 50ms, statistic: p95}
              - name: llm-itl-mean
                model: tiny-llama
                objective: 95
                budgeting: occurrences
                sli:
                  itl:
                    threshold: 20ms
            """;

        var set = SloSpecLoader.Parse(yaml, "slo.yaml", knownModels: ["tiny-llama"]);

        Assert.True(set.IsValid, string.Join("\n", set.Errors));
        Assert.Equal(new TtftSli(TimeSpan.FromMilliseconds(500)), set.Slos[0].Sli);
        Assert.Equal(new ItlSli(TimeSpan.FromMilliseconds(50), ItlStatistic.P95), set.Slos[1].Sli);
        Assert.Equal(new ItlSli(TimeSpan.FromMilliseconds(20), ItlStatistic.Mean), set.Slos[2].Sli);
        Assert.All(set.Slos, s =>
        {
            Assert.Equal(BudgetingMethod.Occurrences, s.BudgetingMethod);
            Assert.True(s.Sli.IsRequestBased);
            Assert.True(s.Sli.IsSequenceBased);
        });
        Assert.Equal(0.99, set.Slos[0].Objective);
        Assert.Equal(TimeSpan.FromDays(7), set.Slos[0].Window);
    }

    public static TheoryData<string, string, string, string> BadSlis => new()
    {
        // sli body (line 6, column 7), the text the error points at, field, words the message must contain
        { "ttft: {threshold: fast}", "fast", "slos[0].sli.ttft.threshold", "must be a duration such as 50ms, 5m, 1h or 30d, got 'fast'" },
        { "ttft: {threshold: 0ms}", "0ms", "slos[0].sli.ttft.threshold", "must be greater than zero" },
        { "ttft: {}", "{", "slos[0].sli.ttft.threshold", "is required" },
        { "ttft: {threshold: 1s, statistic: p95}", "statistic", "slos[0].sli.ttft.statistic", "unknown field 'statistic'; expected one of: threshold" },
        { "itl: {threshold: 50ms, statistic: p99}", "p99", "slos[0].sli.itl.statistic", "must be mean or p95, got 'p99'" },
        { "itl: {threshold: -5ms}", "-5ms", "slos[0].sli.itl.threshold", "got '-5ms'" },
        { "itl: {statistic: mean}", "{", "slos[0].sli.itl.threshold", "is required" },
        { "itl: 50ms", "50ms", "slos[0].sli.itl", "must be a mapping" },
        { "{kind: ttft, threshold: 500ms}", "ttft", "slos[0].sli.kind", "write sli: {ttft: {threshold: ...}}" },
        { "tpot: {threshold: 50ms}", "tpot", "slos[0].sli.tpot", "unknown SLI kind 'tpot'; expected latency, availability, throughput, resource, batching, ttft or itl" },
    };

    [Theory]
    [MemberData(nameof(BadSlis))]
    public void Parse_BadTokenLatencySli_OneErrorNamingTheField(string sli, string at, string field, string message)
    {
        var yaml = $"""
            slos:
              - name: llm
                model: tiny-llama
                objective: 99
                sli:
                  {sli}
            """;

        var set = SloSpecLoader.Parse(yaml, "s.yaml");

        Assert.Empty(set.Slos);
        var error = Assert.Single(set.Errors);
        Assert.Equal((6, 7 + sli.IndexOf(at, StringComparison.Ordinal), field), (error.Line, error.Column, error.Field));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Parse_TokenLatencyWithTimeslicesOrVersion_NamesBudgetingAndVersion()
    {
        const string yaml = """
            slos:
              - name: llm-ttft
                model: tiny-llama
                version: "1"
                objective: 99
                budgeting: timeslices
                sli:
                  ttft: {threshold: 500ms}
            """;

        var set = SloSpecLoader.Parse(yaml, "s.yaml");

        Assert.Empty(set.Slos);
        Assert.Equal(2, set.Errors.Count);
        var version = Assert.Single(set.Errors, e => e.Field == "slos[0].version");
        Assert.Equal(4, version.Line);
        Assert.Contains("no version", version.Message);
        var budgeting = Assert.Single(set.Errors, e => e.Field == "slos[0].budgeting");
        Assert.Equal(6, budgeting.Line);
        Assert.Contains("a ttft SLI counts generated sequences and needs occurrences budgeting", budgeting.Message);
    }

    [Fact]
    public void Parse_OpenSloRatioOverSluiceTtftAndItl_MapsToTheSameSlis()
    {
        const string yaml = """
            apiVersion: openslo/v1
            kind: SLO
            metadata: {name: llm-ttft}
            spec:
              service: chat
              budgetingMethod: Occurrences
              timeWindow: [{duration: 7d, isRolling: true}]
              objectives: [{targetPercent: 99}]
              indicator:
                metadata: {name: ttft-fast}
                spec:
                  ratioMetric:
                    good: {metricSource: {type: sluice, spec: {model: tiny-llama, ttft: {threshold: 300ms}}}}
                    total: {metricSource: {type: sluice, spec: {model: tiny-llama}}}
            ---
            apiVersion: openslo/v1
            kind: SLO
            metadata: {name: llm-itl}
            spec:
              service: chat
              budgetingMethod: Occurrences
              timeWindow: [{duration: 7d, isRolling: true}]
              objectives: [{target: 0.95}]
              indicator:
                metadata: {name: itl-fast}
                spec:
                  ratioMetric:
                    good: {metricSource: {type: sluice, spec: {model: tiny-llama, itl: {threshold: 40ms, statistic: banana}}}}
                    total: {metricSource: {type: sluice, spec: {model: tiny-llama}}}
            """;

        var set = SloSpecLoader.Parse(yaml, "openslo.yaml");

        var slo = Assert.Single(set.Slos);
        Assert.True(set.Errors.Count == 1, string.Join("\n", set.Errors));
        Assert.Equal(new TtftSli(TimeSpan.FromMilliseconds(300)), slo.Sli);
        Assert.Equal("tiny-llama", slo.Model);
        var error = Assert.Single(set.Errors);
        Assert.Equal("spec.indicator.spec.ratioMetric.good.metricSource.spec.itl.statistic", error.Field);
        Assert.Contains("'banana'", error.Message);
    }
}
