using Sluice.Core.Configuration;
using Sluice.Core.Tensors;

namespace Sluice.Core.Runtime;

/// <summary>
/// One loaded model instance that executes batches. The engine concatenates the requests of a batch along the batch
/// dimension before calling it and splits the outputs afterwards, so a runner sees one set of input tensors per call and
/// knows nothing of requests, queues or protocols.
/// </summary>
/// <remarks>Calls are not concurrent: the engine runs one batch at a time per instance.</remarks>
public interface IModelRunner : IDisposable
{
    /// <summary>Runs one batch. The returned tensors are owned by the caller.</summary>
    /// <param name="inputs">One tensor per model input, batch dimension first when the model batches.</param>
    /// <param name="outputNames">The outputs to compute.</param>
    /// <param name="cancellationToken">Cancels the native run (ONNX Runtime's <c>RunOptions.Terminate</c>).</param>
    ValueTask<RunResult> RunAsync(IReadOnlyList<TensorData> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken);

    /// <summary>
    /// Where the engine should execute this runner's batches (assembling inputs, the run, splitting outputs): a runner pinned to
    /// a thread of its own (a GPU instance) returns that thread's scheduler, so a batch goes straight to it instead of first
    /// hopping through the thread pool and back. Null (the default): the thread pool.
    /// </summary>
    TaskScheduler? Scheduler => null;

    /// <summary>
    /// Runs one batch writing the outputs straight into caller-owned buffers of the exact shapes and datatypes the run
    /// produces (<paramref name="outputs"/>: name, datatype, shape, writable memory), so nothing is allocated or copied per
    /// call. The returned <see cref="RunResult.Outputs"/> are <paramref name="outputs"/>. Runners that cannot write in place
    /// run <see cref="RunAsync"/> and copy.
    /// </summary>
    async ValueTask<RunResult> RunIntoAsync(IReadOnlyList<TensorData> inputs, IReadOnlyList<TensorData> outputs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        var result = await RunAsync(inputs, outputs.Select(o => o.Name).ToArray(), cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < outputs.Count; i++)
        {
            var produced = result.Outputs[i];
            if (!produced.Shape.AsSpan().SequenceEqual(outputs[i].Shape) || produced.Data.Length != outputs[i].Data.Length)
            {
                throw new Inference.InferenceException(Inference.InferenceError.RuntimeFailure,
                    $"Output '{produced.Name}' has shape {TensorShape.Format(produced.Shape)}, not the {TensorShape.Format(outputs[i].Shape)} asked for.");
            }

            produced.Data.Span.CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsMemory(outputs[i].Data).Span);
        }

        return result with { Outputs = outputs };
    }
}

/// <summary>A batch's outputs and the moments its compute phases ended (<see cref="System.Diagnostics.Stopwatch"/> ticks).</summary>
/// <param name="Outputs">The outputs, in the order asked for.</param>
/// <param name="ComputeInputEnd">Inputs were bound to the runtime.</param>
/// <param name="ComputeInferEnd">The runtime finished executing.</param>
/// <param name="ComputeOutputEnd">Outputs were copied out of the runtime.</param>
public sealed record RunResult(IReadOnlyList<TensorData> Outputs, long ComputeInputEnd, long ComputeInferEnd, long ComputeOutputEnd);

/// <summary>A model's inputs and outputs as the model file declares them, dims in full (batch dimension included, -1 where dynamic).</summary>
public sealed record ModelSignature(IReadOnlyList<TensorConfig> Inputs, IReadOnlyList<TensorConfig> Outputs);

/// <summary>Where one runner instance runs.</summary>
/// <param name="ExecutionProvider"><c>cpu</c>, <c>cuda</c> or <c>tensorrt</c>.</param>
/// <param name="DeviceId">GPU ordinal for GPU providers; 0 on CPU.</param>
/// <param name="InstanceIndex">The instance's index within its model version, for names and logs.</param>
public sealed record RunnerPlacement(string ExecutionProvider, int DeviceId, int InstanceIndex);

/// <summary>A kind of backend (ONNX Runtime), able to read a model file's signature and create runners for it.</summary>
public interface IModelBackend
{
    /// <summary>The backend name used in configs, e.g. <c>onnxruntime</c>.</summary>
    string Name { get; }

    /// <summary>The Triton platform string reported in metadata, e.g. <c>onnxruntime_onnx</c>.</summary>
    string Platform { get; }

    /// <summary>Reads the model file's declared inputs and outputs. Throws <see cref="Inference.InferenceException"/> with <see cref="Inference.InferenceError.LoadFailed"/> on a corrupt file.</summary>
    ModelSignature ReadSignature(string modelPath, ExecutionConfig execution);

    /// <summary>Loads the model into a new runner. Throws <see cref="Inference.InferenceException"/> with <see cref="Inference.InferenceError.LoadFailed"/> naming what is missing when the provider is not available.</summary>
    IModelRunner CreateRunner(ModelConfig config, string modelPath, RunnerPlacement placement);
}
