using Sluice.Slo.Evaluation;
using Sluice.Slo.Rules;
using Sluice.Slo.Spec;
using Sluice.Slo.Tests.Spec;
using YamlDotNet.RepresentationModel;

namespace Sluice.Slo.Tests.Rules;

public sealed class RuleFileShapeTests
{
    private static IReadOnlyList<SloSpec> DefaultSlos() => SloSpecLoader.LoadFiles([ExampleSpecTests.ExamplePath]).Slos;

    private static YamlSequenceNode Groups(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return (YamlSequenceNode)((YamlMappingNode)stream.Documents[0].RootNode)["groups"];
    }

    private static string Scalar(YamlNode node, string key) => ((YamlScalarNode)((YamlMappingNode)node)[key]).Value!;

    private static bool Has(YamlNode node, string key) => ((YamlMappingNode)node).Children.ContainsKey(key);

    [Fact]
    public void Generate_DefaultSpec_OneGroupPerSloWithRatiosMetadataAndTwoAlerts()
    {
        var slos = DefaultSlos();

        var groups = Groups(PrometheusRuleGenerator.Generate(slos));

        Assert.Equal(slos.Count, groups.Children.Count);
        foreach (var (group, slo) in groups.Children.Zip(slos))
        {
            Assert.Equal($"sluice-slo-{slo.Name}", Scalar(group, "name"));
            var rules = ((YamlSequenceNode)((YamlMappingNode)group)["rules"]).Children;
            var records = rules.Where(r => Has(r, "record")).Select(r => Scalar(r, "record")).ToList();
            var expectedWindows = new[] { "5m", "30m", "1h", "2h", "6h", "1d", "3d", DurationText.Format(slo.Window) }.Distinct();
            Assert.Equal(expectedWindows.Select(w => $"slo:sli_error:ratio_rate{w}"), records.Where(r => r.StartsWith("slo:sli_error", StringComparison.Ordinal)));
            Assert.Contains("slo:error_budget:ratio", records);
            Assert.Contains("slo:period_error_budget_remaining:ratio", records);
            var metric = slo.BudgetingMethod == BudgetingMethod.Occurrences ? "sluice_slo_events_total" : "sluice_slo_timeslices_total";
            Assert.All(rules.Where(r => Scalar(r, "record" is var k && Has(r, k) ? k : "alert").StartsWith("slo:sli_error", StringComparison.Ordinal)),
                r => Assert.Contains($"{metric}{{slo=\"{slo.Name}\"", Scalar(r, "expr")));

            var alerts = rules.Where(r => Has(r, "alert")).ToList();
            Assert.Equal(2, alerts.Count);
            Assert.Equal(["page", "ticket"], alerts.Select(a => Scalar(((YamlMappingNode)a)["labels"], "severity")));
            Assert.All(alerts, a =>
            {
                Assert.Equal(AlertContent.AlertName, Scalar(a, "alert"));
                var annotations = (YamlMappingNode)((YamlMappingNode)a)["annotations"];
                Assert.True(annotations.Children.ContainsKey("summary") && annotations.Children.ContainsKey("description"));
                Assert.Equal(slo.Alerting.RunbookUrl, Scalar(annotations, "runbook_url"));
            });
            Assert.Contains("slo:sli_error:ratio_rate1h{slo=\"" + slo.Name + "\"} > (14.4 * ", Scalar(alerts[0], "expr"));
            Assert.Contains("slo:sli_error:ratio_rate3d{slo=\"" + slo.Name + "\"} > (1 * ", Scalar(alerts[1], "expr"));
        }
    }

    [Fact]
    public void Generate_DisabledTicket_EmitsOnlyThePageAlert()
    {
        var slo = DefaultSlos()[0] with { Alerting = AlertingSpec.Default with { Ticket = AlertSeverityPolicy.DefaultTicket with { Enabled = false } } };

        var groups = Groups(PrometheusRuleGenerator.Generate([slo]));

        var rules = ((YamlSequenceNode)((YamlMappingNode)groups.Children[0])["rules"]).Children;
        Assert.Single(rules, r => Has(r, "alert"));
    }
}
