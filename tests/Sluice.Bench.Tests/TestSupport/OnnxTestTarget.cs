using Sluice.Bench.Clients;
using Sluice.Bench.Workload;
using Sluice.Core.Configuration;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;
using Sluice.Onnx.Runtime;

namespace Sluice.Bench.Tests.TestSupport;

/// <summary>A real ONNX Runtime session behind <see cref="IInProcessTarget"/>, as the CLI supplies it; counts its runs.</summary>
internal sealed class OnnxTestTarget : IInProcessTarget
{
    private readonly IModelRunner _runner;
    private readonly string[] _outputs;
    private int _runs;

    public OnnxTestTarget(string path)
    {
        var backend = new OnnxModelBackend();
        var signature = backend.ReadSignature(path, new ExecutionConfig());
        _runner = backend.CreateRunner(new ModelConfig { Name = "in-process", Inputs = signature.Inputs, Outputs = signature.Outputs }, path, new RunnerPlacement("cpu", 0, 0));
        _outputs = signature.Outputs.Select(o => o.Name).ToArray();
        Inputs = signature.Inputs.Select(i => new InputSpec(i.Name, i.DataType, i.Dims)).ToArray();
    }

    public IReadOnlyList<InputSpec> Inputs { get; }

    public int Runs => Volatile.Read(ref _runs);

    public async ValueTask RunAsync(IReadOnlyList<TensorData> inputs, CancellationToken cancellationToken)
    {
        await _runner.RunAsync(inputs, _outputs, cancellationToken);
        Interlocked.Increment(ref _runs);
    }

    public void Dispose() => _runner.Dispose();
}
