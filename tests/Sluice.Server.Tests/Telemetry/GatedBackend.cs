using Sluice.Core.Configuration;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;
using Sluice.Onnx.Runtime;

namespace Sluice.Server.Tests.Telemetry;

/// <summary>
/// The real ONNX Runtime backend whose runners wait at a gate the test opens and closes: with it closed, one batch holds the
/// only instance, so the queue fills and rejects deterministically. A hand-written double of our own seam, <see cref="IModelBackend"/>.
/// </summary>
internal sealed class GatedBackend : IModelBackend
{
    private readonly OnnxModelBackend _inner = new();
    private readonly Lock _lock = new();
    private TaskCompletionSource _open = NewOpen(opened: true);
    private TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Name => _inner.Name;
    public string Platform => _inner.Platform;

    /// <summary>Completes when a batch reached the closed gate.</summary>
    public Task Entered
    {
        get { lock (_lock) return _entered.Task; }
    }

    public void Close()
    {
        lock (_lock)
        {
            _open = NewOpen(opened: false);
            _entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void Open()
    {
        lock (_lock) _open.TrySetResult();
    }

    public ModelSignature ReadSignature(string modelPath, ExecutionConfig execution) => _inner.ReadSignature(modelPath, execution);

    public IModelRunner CreateRunner(ModelConfig config, string modelPath, RunnerPlacement placement) =>
        new GatedRunner(_inner.CreateRunner(config, modelPath, placement), this);

    private Task Pass()
    {
        lock (_lock)
        {
            if (!_open.Task.IsCompleted)
            {
                _entered.TrySetResult();
            }

            return _open.Task;
        }
    }

    private static TaskCompletionSource NewOpen(bool opened)
    {
        var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (opened)
        {
            source.SetResult();
        }

        return source;
    }

    private sealed class GatedRunner(IModelRunner inner, GatedBackend gate) : IModelRunner
    {
        public async ValueTask<RunResult> RunAsync(IReadOnlyList<TensorData> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken)
        {
            await gate.Pass().WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
            return await inner.RunAsync(inputs, outputNames, cancellationToken);
        }

        public void Dispose() => inner.Dispose();
    }
}
