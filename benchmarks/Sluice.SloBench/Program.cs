using System.Globalization;
using Sluice.Slo.Evaluation;

// Usage: dotnet run -c Release --project benchmarks/Sluice.SloBench -- [SLO_COUNT=100] [SECONDS=10]
// Measures the CPU time of evaluating SLO_COUNT SLOs with full 30-day windows (SloBenchmark.MeasureEvaluationCost) and prints it
// as a share of one core at the server's evaluation interval. Exit code 1 when the share is 1% or more (the budget).
int sloCount = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100;
double seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 10;

SloBenchmark.MeasureEvaluationCost(sloCount, TimeSpan.FromSeconds(1));   // warm-up: JIT and tiering
var cost = SloBenchmark.MeasureEvaluationCost(sloCount, TimeSpan.FromSeconds(seconds));

Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{cost.SloCount} SLOs, {cost.Evaluations} evaluations: {cost.CpuPerEvaluation.TotalMilliseconds:F3} ms CPU per evaluation of all " +
    $"every {cost.EvaluationInterval.TotalSeconds:F0} s = {cost.CoreShare * 100:F4}% of one core ({Environment.ProcessorCount} logical CPUs, .NET {Environment.Version})"));
return cost.CoreShare < 0.01 ? 0 : 1;
