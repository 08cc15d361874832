using Sluice.Core.Tensors;
using Sluice.Bench.Workload;

namespace Sluice.Bench.Clients;

/// <summary>
/// A model run in this process without any server: what <c>--in-process</c> measures the server against. Bench never sees
/// the runtime itself; the CLI fills this with an ONNX Runtime session from Sluice.Onnx.
/// </summary>
public interface IInProcessTarget : IDisposable
{
    /// <summary>The model's inputs (-1 where dynamic), as the model file declares them.</summary>
    IReadOnlyList<InputSpec> Inputs { get; }

    /// <summary>Runs the model once on <paramref name="inputs"/>, outputs copied out and dropped. Throws when the run fails.</summary>
    ValueTask RunAsync(IReadOnlyList<TensorData> inputs, CancellationToken cancellationToken);
}

/// <summary>Sends the workload to an <see cref="IInProcessTarget"/>, one run at a time (a session instance runs one batch at once).</summary>
public sealed class InProcessInferClient(IInProcessTarget target, Workload.Workload workload) : IInferClient
{
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    /// <inheritdoc />
    public string Protocol => "in-process";

    /// <inheritdoc />
    public async ValueTask<InferOutcome> InferAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _oneAtATime.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return InferOutcome.Failed("canceled");
        }

        try
        {
            await target.RunAsync(workload.Inputs, cancellationToken).ConfigureAwait(false);
            return new InferOutcome(true, "OK", null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return InferOutcome.Failed("canceled");
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            return InferOutcome.Failed("runtime error");
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <inheritdoc />
    public void Dispose() => _oneAtATime.Dispose();
}
