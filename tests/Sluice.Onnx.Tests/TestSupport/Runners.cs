using Sluice.Core.Configuration;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;
using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Tests.TestSupport;

/// <summary>Creates runners through the backend, the way the engine does.</summary>
public static class Runners
{
    public static OnnxModelRunner Create(string modelPath, ExecutionConfig? execution = null, string provider = "cpu", int deviceId = 0) =>
        (OnnxModelRunner)new OnnxModelBackend().CreateRunner(
            new ModelConfig { Name = "test_model", Execution = execution ?? new ExecutionConfig() },
            modelPath,
            new RunnerPlacement(provider, deviceId, InstanceIndex: 0));

    /// <summary>Runs and waits with a safety timeout.</summary>
    public static Task<RunResult> RunAsync(this IModelRunner runner, IReadOnlyList<TensorData> inputs, params string[] outputs) =>
        runner.RunAsync(inputs, outputs, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
}
