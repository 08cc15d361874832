using Sluice.Core.Inference;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Tests.Spec;

public sealed class OpenSloMapperTests
{
    [Fact]
    public void Parse_OpenSloWithInlineLatencyRatio_MapsToLatencySlo()
    {
        const string yaml = """
            apiVersion: openslo/v1
            kind: SLO
            metadata:
              name: minilm-latency
              displayName: MiniLM compute latency
            spec:
              service: sluice
              indicator:
                metadata: {name: minilm-fast}
                spec:
                  ratioMetric:
                    counter: true
                    good:
                      metricSource: {type: sluice, spec: {model: minilm, latency: {phase: compute, threshold: 50ms}}}
                    total:
                      metricSource: {type: sluice, spec: {model: minilm}}
              timeWindow:
                - duration: 28d
                  isRolling: true
              budgetingMethod: Occurrences
              objectives:
                - displayName: fast
                  target: 0.999
            """;

        var set = SloSpecLoader.Parse(yaml, "openslo.yaml");

        Assert.True(set.IsValid, string.Join("\n", set.Errors));
        var slo = Assert.Single(set.Slos);
        Assert.Equal("minilm-latency", slo.Name);
        Assert.Equal("minilm", slo.Model);
        Assert.Equal("MiniLM compute latency", slo.Description);
        Assert.Equal(0.999, slo.Objective);
        Assert.Equal(TimeSpan.FromDays(28), slo.Window);
        Assert.Equal(new LatencySli(LatencyPhase.Compute, TimeSpan.FromMilliseconds(50)), slo.Sli);
    }

    [Fact]
    public void Parse_OpenSloWithIndicatorRefAndBadMetric_MapsToAvailabilityWithReasons()
    {
        const string yaml = """
            apiVersion: openslo/v1
            kind: SLO
            metadata: {name: minilm-availability}
            spec:
              service: sluice
              indicatorRef: minilm-errors
              timeWindow: [{duration: 30d, isRolling: true}]
              budgetingMethod: Occurrences
              objectives: [{targetPercent: 99.5}]
            ---
            apiVersion: openslo/v1
            kind: SLI
            metadata: {name: minilm-errors}
            spec:
              ratioMetric:
                counter: true
                bad:
                  metricSource: {type: sluice, spec: {model: minilm, outcome: failure, reasons: [runtime_failure, queue_timeout]}}
                total:
                  metricSource: {type: sluice, spec: {model: minilm}}
            """;

        var set = SloSpecLoader.Parse(yaml, "openslo.yaml");

        Assert.True(set.IsValid, string.Join("\n", set.Errors));
        var sli = Assert.IsType<AvailabilitySli>(Assert.Single(set.Slos).Sli);
        Assert.Equal([InferenceError.QueueTimeout, InferenceError.RuntimeFailure], sli.BadReasons.Order());
        Assert.Equal(0.995, set.Slos[0].Objective, 12);
    }

    [Fact]
    public void Parse_OpenSloKindsThatDoNotMap_ReportErrors()
    {
        const string yaml = """
            apiVersion: openslo/v1
            kind: SLO
            metadata: {name: x}
            spec:
              service: s
              indicator:
                metadata: {name: y}
                spec:
                  thresholdMetric:
                    metricSource: {type: Prometheus, spec: {query: up}}
              timeWindow: [{duration: 1w, isRolling: false}]
              budgetingMethod: Timeslices
              objectives: [{target: 0.99}]
            ---
            apiVersion: openslo/v1
            kind: AlertPolicy
            metadata: {name: z}
            """;

        var set = SloSpecLoader.Parse(yaml, "o.yaml");

        Assert.Empty(set.Slos);
        var fields = set.Errors.Select(e => e.Field).ToList();
        Assert.Contains("spec.indicator.spec", fields);
        Assert.Contains("spec.timeWindow[0].isRolling", fields);
        Assert.Contains("spec.budgetingMethod", fields);
        Assert.Contains("kind", fields);
        Assert.All(set.Errors, e => Assert.True(e.Line > 0));
    }

    [Fact]
    public void Parse_OpenSloWithPrometheusSource_SaysToUseSluiceSource()
    {
        const string yaml = """
            apiVersion: openslo/v1
            kind: SLO
            metadata: {name: x}
            spec:
              service: s
              indicator:
                metadata: {name: y}
                spec:
                  ratioMetric:
                    good: {metricSource: {type: Prometheus, spec: {query: a}}}
                    total: {metricSource: {type: sluice, spec: {model: m}}}
              timeWindow: [{duration: 30d, isRolling: true}]
              budgetingMethod: Occurrences
              objectives: [{target: 0.99}]
            """;

        var set = SloSpecLoader.Parse(yaml, "o.yaml");

        Assert.Contains(set.Errors, e => e.Field == "spec.indicator.spec.ratioMetric.good.metricSource.type" && e.Line == 10);
    }
}
