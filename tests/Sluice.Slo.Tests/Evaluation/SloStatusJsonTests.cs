using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Tests.TestSupport;

namespace Sluice.Slo.Tests.Evaluation;

public sealed class SloStatusJsonTests
{
    [Fact]
    public void WriteAll_EvaluatedSlo_HasTheDocumentedFields()
    {
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Slos.Availability()], clock);
        Slos.Drive(clock, evaluator, 10, 99, 1);

        var json = SloStatusJson.WriteAll(evaluator.Statuses);

        using var document = JsonDocument.Parse(json);
        var slo = Assert.Single(document.RootElement.GetProperty("slos").EnumerateArray().ToList());
        Assert.Equal("avail", slo.GetProperty("name").GetString());
        Assert.Equal("availability", slo.GetProperty("sli_kind").GetString());
        Assert.Equal("occurrences", slo.GetProperty("budgeting").GetString());
        Assert.Equal("30d", slo.GetProperty("window").GetString());
        Assert.Equal("ok", slo.GetProperty("state").GetString());
        Assert.Equal(0.99, slo.GetProperty("sli").GetDouble(), 12);
        Assert.Equal(1000, slo.GetProperty("total").GetDouble());
        Assert.Equal(-9, slo.GetProperty("error_budget").GetProperty("remaining_ratio").GetDouble(), 6);
        Assert.Equal(0, slo.GetProperty("error_budget").GetProperty("time_to_exhaustion_seconds").GetDouble());
        Assert.Equal(["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"],
            slo.GetProperty("burn_rates").EnumerateArray().Select(b => b.GetProperty("window").GetString()));
        // 1% bad is above 6 × 0.001 over 6h and 30m (the page's second condition) since minute 1; for: 2m → firing at minute 3.
        Assert.Equal("firing", slo.GetProperty("alerts").GetProperty("page").GetProperty("state").GetString());
    }
}
