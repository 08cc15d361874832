using System.Collections.Concurrent;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Core.Tensors;

namespace Sluice.Server.Telemetry;

/// <summary>
/// A small ring of the inputs of recent requests per model, so profiling runs on real traffic rather than zeros. Keeps
/// references to the requests' own (immutable) tensors; nothing is copied on the request path.
/// </summary>
public sealed class RecentInputs
{
    /// <summary>How many requests' inputs are kept per model.</summary>
    public const int Capacity = 8;

    private readonly ConcurrentDictionary<string, Ring> _rings = new(StringComparer.Ordinal);

    /// <summary>Keeps a request's inputs (called after it succeeded, so they are known to be valid for the model).</summary>
    public void Record(string model, IReadOnlyList<TensorData> inputs) => _rings.GetOrAdd(model, static _ => new Ring()).Add(inputs);

    /// <summary>The kept inputs of a model, newest first; empty when none.</summary>
    public IReadOnlyList<IReadOnlyList<TensorData>> Get(string model) =>
        _rings.TryGetValue(model, out var ring) ? ring.Snapshot() : [];

    private sealed class Ring
    {
        private readonly IReadOnlyList<TensorData>?[] _slots = new IReadOnlyList<TensorData>?[Capacity];
        private long _next;

        public void Add(IReadOnlyList<TensorData> inputs)
        {
            var index = Interlocked.Increment(ref _next) - 1;
            Volatile.Write(ref _slots[index % Capacity], inputs);
        }

        public IReadOnlyList<IReadOnlyList<TensorData>> Snapshot()
        {
            var next = Interlocked.Read(ref _next);
            var result = new List<IReadOnlyList<TensorData>>(Capacity);
            for (var i = 1; i <= Math.Min(next, Capacity); i++)
            {
                if (Volatile.Read(ref _slots[(next - i) % Capacity]) is { } inputs)
                {
                    result.Add(inputs);
                }
            }

            return result;
        }
    }
}

/// <summary>Decorates the engine's <see cref="IInferenceService"/>: keeps each successful request's inputs in <see cref="RecentInputs"/>.</summary>
internal sealed class InputRecordingInferenceService(IInferenceService inner, RecentInputs recent) : IInferenceService
{
    public async ValueTask<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken)
    {
        var response = await inner.InferAsync(request, cancellationToken).ConfigureAwait(false);
        recent.Record(response.ModelName, request.Inputs);
        return response;
    }
}
