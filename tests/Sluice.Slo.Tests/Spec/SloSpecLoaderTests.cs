using Sluice.Core.Inference;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Tests.Spec;

public sealed class SloSpecLoaderTests
{
    [Fact]
    public void Parse_ValidLatencySpec_ReadsEveryField()
    {
        const string yaml = """
            service: search
            slos:
              - name: m-latency
                model: m
                version: "2"
                description: fast
                objective: 99.5
                window: 7d
                sli:
                  latency: {phase: compute_infer, threshold: 20ms}
                alerting:
                  runbook_url: https://runbooks.example.com/x
                  page: {for: 1m, labels: {team: ml}, annotations: {dashboard: d}}
                  ticket: false
            """;

        var set = SloSpecLoader.Parse(yaml, "slo.yaml");

        Assert.True(set.IsValid, string.Join("\n", set.Errors));
        var slo = Assert.Single(set.Slos);
        Assert.Equal("m-latency", slo.Name);
        Assert.Equal("search", slo.Service);
        Assert.Equal("2", slo.ModelVersion);
        Assert.Equal(0.995, slo.Objective);
        Assert.Equal(TimeSpan.FromDays(7), slo.Window);
        Assert.Equal(BudgetingMethod.Occurrences, slo.BudgetingMethod);
        Assert.Equal(new LatencySli(LatencyPhase.ComputeInfer, TimeSpan.FromMilliseconds(20)), slo.Sli);
        Assert.Equal("https://runbooks.example.com/x", slo.Alerting.RunbookUrl);
        Assert.Equal(TimeSpan.FromMinutes(1), slo.Alerting.Page.For);
        Assert.Equal("ml", slo.Alerting.Page.Labels["team"]);
        Assert.False(slo.Alerting.Ticket.Enabled);
        Assert.Equal(new SpecLocation("slo.yaml", 3, 5), slo.Location);
    }

    [Fact]
    public void Parse_ManyMistakes_ReportsEveryErrorWithFileLineColumnAndField()
    {
        const string yaml = """
            slos:
              - name: Bad Name
                model: m
                objective: 100.5
                window: 30x
                sli:
                  latency: {phase: gpu, threshold: 50ms}
              - name: ok-name
                model: m
                objective: 99
                sli:
                  availability: {bad_reasons: [canceled, queue_full]}
                colour: blue
            """;

        var set = SloSpecLoader.Parse(yaml, "broken.yaml");

        Assert.False(set.IsValid);
        Assert.Empty(set.Slos);
        var errors = set.Errors.Select(e => (e.Line, e.Column, e.Field)).ToList();
        Assert.True(errors.Count > 0, string.Join("\n", set.Errors));
        Assert.Contains((2, 11, "slos[0].name"), errors);
        Assert.Contains((4, 16, "slos[0].objective"), errors);
        Assert.Contains((5, 13, "slos[0].window"), errors);
        Assert.Contains((7, 24, "slos[0].sli.latency.phase"), errors);
        Assert.Contains((12, 36, "slos[1].sli.availability.bad_reasons"), errors);
        Assert.Contains((13, 5, "slos[1].colour"), errors);
        Assert.Equal(6, set.Errors.Count);
        Assert.All(set.Errors, e => Assert.Equal("broken.yaml", e.File));
        Assert.Contains("canceled", set.Errors.Single(e => e.Line == 12).Message);
        Assert.StartsWith("broken.yaml:2:11: slos[0].name:", set.Errors.Single(e => e.Line == 2).ToString());
    }

    [Fact]
    public void Parse_MissingRequiredFields_NamesEachField()
    {
        const string yaml = """
            slos:
              - name: x
                sli:
                  throughput: {}
            """;

        var set = SloSpecLoader.Parse(yaml, "s.yaml");

        var fields = set.Errors.Select(e => e.Field).ToHashSet();
        Assert.Contains("slos[0].model", fields);
        Assert.Contains("slos[0].objective", fields);
        Assert.Contains("slos[0].sli.throughput.min_fraction_of_peak", fields);
    }

    [Fact]
    public void Parse_UnknownModel_IsFlaggedWhenKnownModelsGiven()
    {
        const string yaml = """
            slos:
              - {name: a, model: minilm, objective: 99, sli: {availability: {}}}
              - {name: b, model: bert, objective: 99, sli: {availability: {}}}
            """;

        var set = SloSpecLoader.Parse(yaml, "s.yaml", knownModels: ["minilm"]);

        var error = Assert.Single(set.Errors);
        Assert.Equal("model", error.Field);
        Assert.Equal(3, error.Line);
        Assert.Contains("'bert'", error.Message);
    }

    [Fact]
    public void Parse_UnknownGaugeAndWrongBudgeting_AreFlagged()
    {
        const string yaml = """
            slos:
              - name: mem
                model: m
                budgeting: occurrences
                sli:
                  resource: {gauge: disk_usage, threshold: 0.9, max_duration_above: 5m}
              - name: lat
                model: m
                objective: 99
                budgeting: timeslices
                sli:
                  latency: {phase: queue, threshold: 5ms}
            """;

        var set = SloSpecLoader.Parse(yaml, "s.yaml");

        Assert.Contains(set.Errors, e => e.Field == "slos[0].sli.resource.gauge" && e.Message.Contains("disk_usage"));
        Assert.Contains(set.Errors, e => e.Field == "slos[1].budgeting" && e.Line == 10);
    }

    [Fact]
    public void Parse_DuplicateNames_AreFlaggedWithTheFirstLocation()
    {
        const string yaml = """
            slos:
              - {name: a, model: m, objective: 99, sli: {availability: {}}}
              - {name: a, model: m, objective: 98, sli: {availability: {}}}
            """;

        var set = SloSpecLoader.Parse(yaml, "s.yaml");

        var error = Assert.Single(set.Errors);
        Assert.Contains("s.yaml:2:5", error.Message);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void Parse_InvalidYaml_ReportsTheSyntaxErrorsPosition()
    {
        var set = SloSpecLoader.Parse("slos:\n  - name: [unclosed\n", "bad.yaml");

        var error = Assert.Single(set.Errors);
        Assert.Equal("bad.yaml", error.File);
        Assert.True(error.Line >= 2, error.ToString());
    }

    [Fact]
    public void Parse_AvailabilityDefaults_CountOnlyServerSideFailures()
    {
        var set = SloSpecLoader.Parse("slos: [{name: a, model: m, objective: 99, sli: {availability: }}]", "s.yaml");

        var sli = Assert.IsType<AvailabilitySli>(Assert.Single(set.Slos).Sli);
        IEnumerable<InferenceError> reasons = sli.BadReasons;
        Assert.Contains(InferenceError.RuntimeFailure, reasons);
        Assert.Contains(InferenceError.QueueFull, reasons);
        Assert.DoesNotContain(InferenceError.Canceled, reasons);
        Assert.DoesNotContain(InferenceError.InvalidInput, reasons);
    }

    [Fact]
    public void Parse_ResourceWithObjective_IsAnErrorBecauseTheObjectiveIsDerived()
    {
        const string yaml = """
            slos:
              - name: mem
                model: m
                objective: 99
                window: 1d
                sli:
                  resource: {gauge: gpu_utilization, threshold: 85%, max_duration_above: 5m}
            """;

        var set = SloSpecLoader.Parse(yaml, "s.yaml");

        var error = Assert.Single(set.Errors);
        Assert.Equal((4, "slos[0].objective"), (error.Line, error.Field));
    }

    [Fact]
    public void Parse_BatchingSli_ReadsMeasureAndLoad()
    {
        const string yaml = """
            slos:
              - name: batch
                model: m
                objective: 90
                window: 1d
                sli:
                  batching: {measure: batch_hit_rate, min: 0.8, load: {min_inferences_per_second: 50}}
            """;

        var set = SloSpecLoader.Parse(yaml, "s.yaml");

        Assert.True(set.IsValid, string.Join("\n", set.Errors));
        Assert.Equal(new BatchingSli(BatchingMeasure.BatchHitRate, 0.8, new LoadCondition(50, 0)), set.Slos[0].Sli);
        Assert.Equal(BudgetingMethod.Timeslices, set.Slos[0].BudgetingMethod);
    }
}

public sealed class SloSpecLoaderFileTests
{
    [Fact]
    public void LoadFiles_OneFilePerModel_MergesAndFlagsDuplicatesAcrossFilesAndUnreadableFiles()
    {
        using var temp = new TestSupport.TempDirectory();
        File.WriteAllText(temp.File("a.yaml"), "slos: [{name: x, model: a, objective: 99, sli: {availability: {}}}]\n");
        File.WriteAllText(temp.File("b.yaml"), "slos:\n  - {name: y, model: b, objective: 99, sli: {availability: {}}}\n  - {name: x, model: b, objective: 99, sli: {availability: {}}}\n");

        var set = SloSpecLoader.LoadFiles([temp.File("a.yaml"), temp.File("b.yaml"), temp.File("missing.yaml")]);

        Assert.Equal(3, set.Slos.Count);
        Assert.Equal(2, set.Errors.Count);
        Assert.Contains(set.Errors, e => e.File == "b.yaml" && e.Line == 3 && e.Message.Contains("a.yaml:1:8"));
        Assert.Contains(set.Errors, e => e.File == "missing.yaml" && !e.Message.Contains(temp.Path));
    }

    [Fact]
    public void Parse_OpenSloWithoutMetadata_ReportsItInsteadOfThrowing()
    {
        const string yaml = """
            apiVersion: openslo/v1
            kind: SLO
            spec:
              service: s
              indicatorRef: nothing
              timeWindow: [{duration: 30d, isRolling: true}]
              budgetingMethod: Occurrences
              objectives: [{target: 0.99}]
            """;

        var set = SloSpecLoader.Parse(yaml, "o.yaml");

        Assert.Contains(set.Errors, e => e.Field == "metadata");
        Assert.Contains(set.Errors, e => e.Field == "spec.indicatorRef" && e.Line == 5);
    }
}
