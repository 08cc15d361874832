using Sluice.Core.Tensors;

namespace Sluice.Bench.Workload;

/// <summary>One input as the model's metadata declares it (-1 where a dimension is dynamic).</summary>
public sealed record InputSpec(string Name, DataType DataType, long[] Shape);

/// <summary>What the metadata endpoint says of a model: its versions, inputs and outputs.</summary>
public sealed record ModelDescription(string Name, IReadOnlyList<string> Versions, IReadOnlyList<InputSpec> Inputs, IReadOnlyList<string> Outputs);

/// <summary>The tensors every request of a run sends (perf_analyzer reuses one set, as here), and how many inferences a request is.</summary>
/// <param name="Inputs">One tensor per model input.</param>
/// <param name="InferencesPerRequest">The batch size of a request (the first dimension when it was dynamic), else 1.</param>
public sealed record Workload(IReadOnlyList<TensorData> Inputs, int InferencesPerRequest)
{
    /// <summary>Bytes of input data per request.</summary>
    public long InputBytes => Inputs.Sum(t => (long)t.Data.Length);
}
