using System.Text.Json;
using Sluice.Slo.Rules;
using Sluice.Slo.Spec;
using Sluice.Slo.Tests.Spec;

namespace Sluice.Slo.Tests.Rules;

public sealed class GrafanaDashboardGeneratorTests
{
    [Fact]
    public void Generate_DefaultSpec_HasARowAndThreePanelsPerSloOverTheRecordedSeries()
    {
        var slos = SloSpecLoader.LoadFiles([ExampleSpecTests.ExamplePath]).Slos;

        using var document = JsonDocument.Parse(GrafanaDashboardGenerator.Generate(slos));

        var root = document.RootElement;
        Assert.Equal(39, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("sluice-slo", root.GetProperty("uid").GetString());
        var panels = root.GetProperty("panels").EnumerateArray().ToList();
        Assert.Equal((slos.Count * 4) + slos.Count(s => s.Sli.IsSequenceBased), panels.Count);   // ttft and itl add a latency panel
        Assert.Equal(slos.Count, panels.Count(p => p.GetProperty("type").GetString() == "row"));
        Assert.Equal(panels.Count, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
        var exprs = panels.Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!)).ToList();
        foreach (var slo in slos)
        {
            Assert.Contains($"slo:sli:ratio{{slo=\"{slo.Name}\"}}", exprs);
            Assert.Contains($"slo:period_error_budget_remaining:ratio{{slo=\"{slo.Name}\"}}", exprs);
            Assert.Contains(exprs, e => e.StartsWith($"slo:sli_error:ratio_rate1h{{slo=\"{slo.Name}\"}}", StringComparison.Ordinal));
        }

        Assert.Equal("datasource", root.GetProperty("templating").GetProperty("list")[0].GetProperty("name").GetString());
    }
}
