using Sluice.Bench.Measurement;
using Sluice.Slo.Spec;

namespace Sluice.Bench.Slo;

/// <summary>One latency SLO judged at one step.</summary>
/// <param name="Name">The SLO's name.</param>
/// <param name="Phase">The phase it judges.</param>
/// <param name="Threshold">Its latency threshold.</param>
/// <param name="Objective">Its objective (ratio).</param>
/// <param name="Attainment">Share of successful requests within the threshold at this step (NaN without data).</param>
/// <param name="Source">Where the phase's times came from: <c>client</c>, <c>server-timing</c> (exact, per request) or
/// <c>server-stats-mean</c> (the statistics endpoint's mean only: met when the mean is within the threshold).</param>
/// <param name="Met">True when <paramref name="Attainment"/> ≥ <paramref name="Objective"/> and no request failed or was dropped.</param>
public sealed record SloAttainment(string Name, LatencyPhase Phase, TimeSpan Threshold, double Objective, double Attainment, string Source, bool Met);

/// <summary>
/// Judges the latency SLOs of one model (from a Sluice SLO spec, the same file the server evaluates) against what a step
/// measured. End-to-end is judged on client latencies; queue, compute and compute_infer on the server's per-request timing
/// (Sluice's timing headers) when present, else on the statistics endpoint's means.
/// </summary>
public sealed class SloJudge
{
    /// <summary>Creates a judge for the latency SLOs of <paramref name="model"/> (and <paramref name="version"/>) in <paramref name="slos"/>.</summary>
    public SloJudge(IEnumerable<SloSpec> slos, string model, string? version)
    {
        ArgumentNullException.ThrowIfNull(slos);
        var all = slos.Where(s => s.Model == model && (s.ModelVersion is null || version is null || s.ModelVersion == version)).ToArray();
        Latency = all.Where(s => s.Sli is LatencySli).ToArray();
        NotJudged = all.Where(s => s.Sli is not LatencySli).Select(s => $"{s.Name} ({s.Sli.Kind.ToString().ToLowerInvariant()})").ToArray();
    }

    /// <summary>The latency SLOs judged.</summary>
    public IReadOnlyList<SloSpec> Latency { get; }

    /// <summary>The target model's other SLOs, which a load test cannot judge (throughput, resource, batching, availability).</summary>
    public IReadOnlyList<string> NotJudged { get; }

    /// <summary>Judges every latency SLO at <paramref name="step"/>.</summary>
    public IReadOnlyList<SloAttainment> Judge(StepResult step)
    {
        ArgumentNullException.ThrowIfNull(step);
        var recorder = step.Recorder;
        bool clean = step.Failures == 0 && recorder.DroppedSends == 0;
        var result = new List<SloAttainment>(Latency.Count);
        foreach (var slo in Latency)
        {
            var sli = (LatencySli)slo.Sli;
            long thresholdUs = (long)sli.Threshold.TotalMicroseconds;
            var histogram = sli.Phase switch
            {
                LatencyPhase.EndToEnd => recorder.Client,
                LatencyPhase.Queue => recorder.Queue,
                LatencyPhase.Compute => recorder.Compute,
                _ => recorder.ComputeInfer,
            };

            if (histogram.Count > 0)
            {
                double attainment = (double)histogram.CountAtOrBelow(thresholdUs) / histogram.Count;
                result.Add(new SloAttainment(slo.Name, sli.Phase, sli.Threshold, slo.Objective, attainment,
                    sli.Phase == LatencyPhase.EndToEnd ? "client" : "server-timing", clean && attainment >= slo.Objective));
            }
            else if (step.Server is { Success.Count: > 0 } server)
            {
                double meanUs = sli.Phase switch
                {
                    LatencyPhase.Queue => server.Queue.MeanUs,
                    LatencyPhase.Compute => server.ComputeInput.MeanUs + server.ComputeInfer.MeanUs + server.ComputeOutput.MeanUs,
                    _ => server.ComputeInfer.MeanUs,
                };
                result.Add(new SloAttainment(slo.Name, sli.Phase, sli.Threshold, slo.Objective, double.NaN, "server-stats-mean",
                    clean && meanUs <= thresholdUs));
            }
            else
            {
                result.Add(new SloAttainment(slo.Name, sli.Phase, sli.Threshold, slo.Objective, double.NaN, "no data", false));
            }
        }

        return result;
    }
}
