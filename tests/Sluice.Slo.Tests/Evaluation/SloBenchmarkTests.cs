using Xunit.Abstractions;
using Sluice.Slo.Evaluation;

namespace Sluice.Slo.Tests.Evaluation;

[CollectionDefinition(nameof(CpuMeasurement), DisableParallelization = true)]
public sealed class CpuMeasurement;

/// <summary>Runs alone (no other test burns CPU in the process meanwhile), since it reads process CPU time.</summary>
[Collection(nameof(CpuMeasurement))]
public sealed class SloBenchmarkTests(ITestOutputHelper output)
{
    [Fact]
    public void MeasureEvaluationCost_HundredSlos_UnderOnePercentOfACore()
    {
        var cost = SloBenchmark.MeasureEvaluationCost(100, TimeSpan.FromSeconds(1));

        output.WriteLine($"{cost.SloCount} SLOs: {cost.CpuPerEvaluation.TotalMilliseconds:F3} ms CPU per evaluation, " +
            $"{cost.CoreShare:P3} of a core at one evaluation per {cost.EvaluationInterval.TotalSeconds} s ({cost.Evaluations} evaluations)");
        Assert.True(cost.Evaluations > 0);
        Assert.True(cost.CoreShare < 0.01, $"{cost.CoreShare:P3} of a core");
    }
}
