using Sluice.Slo.Evaluation;
using Sluice.Slo.Rules;
using Sluice.Slo.Spec;
using Sluice.Slo.Tests.Spec;
using Sluice.Slo.Tests.TestSupport;
using YamlDotNet.RepresentationModel;

namespace Sluice.Slo.Tests.Rules;

public sealed class PrometheusRuleGeneratorTests
{
    private static IReadOnlyList<SloSpec> DefaultSlos()
    {
        var set = SloSpecLoader.LoadFiles([ExampleSpecTests.ExamplePath]);
        Assert.True(set.IsValid, string.Join("\n", set.Errors));
        return set.Slos;
    }

    [Fact]
    public async Task Generate_DefaultSpec_PassesPromtoolCheckRules()
    {
        using var temp = new TempDirectory();
        var path = temp.File("rules.yaml");
        await File.WriteAllTextAsync(path, PrometheusRuleGenerator.Generate(DefaultSlos()));

        var (exitCode, output) = await Promtool.RunAsync(temp.Path, "check", "rules", path);

        Assert.True(exitCode == 0, output);
        Assert.Contains("SUCCESS", output);
    }
}

public sealed class PromtoolAgreementTests
{
    private static readonly SloSpec Memory = new()
    {
        Name = "mem", Model = "m", Objective = 1 - (5.0 / 1440), Window = TimeSpan.FromDays(1),
        BudgetingMethod = BudgetingMethod.Timeslices,
        Sli = new ResourceSli("process_memory_utilization", 0.85, TimeSpan.FromMinutes(5)),
        Alerting = AlertingSpec.Default with { RunbookUrl = "https://runbooks.example.com/mem" },
    };

    /// <summary>
    /// 6 h clean; then 60 min with 2% of requests failing and, inside it, 10 min of memory above 85%; then clean for 7 h.
    /// Every alert (availability and memory, page and ticket) fires and resolves in the engine; promtool, running the generated
    /// rules on the engine's exported counters, must report exactly the same firing alerts, SLI and budget at every checkpoint.
    /// </summary>
    [Fact]
    public async Task PromtoolTestRules_EngineCountersTripAndClearEachAlert_PrometheusAgreesWithEngine()
    {
        var availability = Slos.Availability() with { Service = "sluice" };
        var scenario = new PromtoolScenario([availability, Memory]);
        for (int minute = 0; minute < 840; minute++)
        {
            bool burning = minute is >= 360 and < 420;
            bool memoryHigh = minute is >= 380 and < 390;
            scenario.RunMinute(sink =>
            {
                for (int i = 0; i < 1000; i++)
                {
                    sink.Record(burning && i < 20 ? Slos.Failure(Core.Inference.InferenceError.QueueFull) : Slos.Success());
                }

                sink.RecordGauge("process_memory_utilization", memoryHigh ? 0.9 : 0.5);
            });
        }

        // :: The scenario really trips and clears each alert in the engine.
        foreach (var slo in new[] { "avail", "mem" })
        {
            foreach (var severity in new[] { AlertSeverity.Page, AlertSeverity.Ticket })
            {
                var states = scenario.Transitions.Where(t => t.Transition.Spec.Name == slo && t.Transition.Severity == severity)
                    .Select(t => t.Transition.To).ToList();
                Assert.True(states.Contains(AlertState.Firing) && states[^1] == AlertState.Resolved, $"{slo} {severity}: {string.Join(",", states)}");
            }
        }

        // :: Checkpoints: around every transition, and every 10 minutes.
        var checkpoints = scenario.Transitions.SelectMany(t => new[] { t.Minute - 1, t.Minute, t.Minute + 1 })
            .Concat(Enumerable.Range(1, 84).Select(i => i * 10)).ToList();
        using var temp = new TempDirectory();
        await File.WriteAllTextAsync(temp.File("rules.yaml"), PrometheusRuleGenerator.Generate([availability, Memory]));
        await File.WriteAllTextAsync(temp.File("test.yaml"), scenario.WriteTestFile("rules.yaml", checkpoints));

        var (exitCode, output) = await Promtool.RunAsync(temp.Path, "test", "rules", "test.yaml");

        Assert.True(exitCode == 0, output.Length > 6000 ? output[..6000] : output);
        Assert.Contains("SUCCESS", output);
    }

    [Fact]
    public async Task PromtoolTestRules_EngineDisagreeing_Fails()
    {
        // The agreement check must be able to fail: claim an alert that the engine never fired.
        var scenario = new PromtoolScenario([Slos.Availability()]);
        for (int minute = 0; minute < 30; minute++)
        {
            scenario.RunMinute(sink => sink.Record(Slos.Success()));
        }

        using var temp = new TempDirectory();
        await File.WriteAllTextAsync(temp.File("rules.yaml"), PrometheusRuleGenerator.Generate([Slos.Availability()]));
        var test = scenario.WriteTestFile("rules.yaml", [20]).Replace("exp_alerts: []", "exp_alerts: [{exp_labels: {severity: page}}]");
        await File.WriteAllTextAsync(temp.File("test.yaml"), test);

        var (exitCode, output) = await Promtool.RunAsync(temp.Path, "test", "rules", "test.yaml");

        Assert.NotEqual(0, exitCode);
        Assert.Contains("FAILED", output);
    }
}
