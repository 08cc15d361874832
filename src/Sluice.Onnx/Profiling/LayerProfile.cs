namespace Sluice.Onnx.Profiling;

/// <summary>Where one model's time went, per node and per operator type, over the profiled runs.</summary>
/// <param name="Runs">Runs measured (warm-up runs excluded).</param>
/// <param name="RunMeanMicroseconds">Mean wall time of one whole run (ONNX Runtime's <c>model_run</c> event).</param>
/// <param name="Nodes">Per node, by total time descending.</param>
/// <param name="OpTypes">Per operator type, by total time descending.</param>
public sealed record LayerProfile(int Runs, double RunMeanMicroseconds, IReadOnlyList<LayerTime> Nodes, IReadOnlyList<LayerTime> OpTypes)
{
    /// <summary>The sum of the nodes' kernel times, per run.</summary>
    public double KernelMicrosecondsPerRun => Runs == 0 ? 0 : Nodes.Sum(n => n.TotalMicroseconds) / Runs;
}

/// <summary>The time of one node (or one operator type) over the profiled runs.</summary>
/// <param name="Name">The node name (or the operator type).</param>
/// <param name="OpType">The operator type.</param>
/// <param name="Count">Kernel executions measured.</param>
/// <param name="TotalMicroseconds">Sum of its kernel times.</param>
/// <param name="MeanMicroseconds">Mean kernel time.</param>
/// <param name="P50Microseconds">Median kernel time.</param>
/// <param name="Share">Its share of all kernel time, 0..1.</param>
public sealed record LayerTime(string Name, string OpType, int Count, double TotalMicroseconds, double MeanMicroseconds, double P50Microseconds, double Share);
