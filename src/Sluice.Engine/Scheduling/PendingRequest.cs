using Sluice.Core.Inference;
using Sluice.Core.Tensors;

namespace Sluice.Engine.Scheduling;

/// <summary>
/// A validated request waiting in one model version's queue, and the completion its caller awaits. Exactly one party moves it
/// out of <see cref="PendingState.Queued"/>: the loop (dispatch or timeout) or the cancellation callback, by compare-and-swap,
/// so a request cancelled while queued never reaches the runner.
/// </summary>
internal sealed class PendingRequest
{
    /// <summary>Where the request is; changed only by <see cref="TryMoveFromQueued"/>.</summary>
    private int _state;

    public PendingRequest(
        InferenceRequest request, IReadOnlyList<TensorData> orderedInputs, IReadOnlyList<string> outputNames, int rows,
        ShapeKey shape, long enqueuedTimestamp, long deadlineTimestamp, CancellationToken requestAborted)
    {
        Request = request;
        OrderedInputs = orderedInputs;
        OutputNames = outputNames;
        Rows = rows;
        Shape = shape;
        EnqueuedTimestamp = enqueuedTimestamp;
        DeadlineTimestamp = deadlineTimestamp;
        RequestAborted = requestAborted;
    }

    /// <summary>The request as the protocol layer built it.</summary>
    public InferenceRequest Request { get; }

    /// <summary>The inputs in the model's declared order.</summary>
    public IReadOnlyList<TensorData> OrderedInputs { get; }

    /// <summary>The outputs to return, in the order to return them.</summary>
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Rows along the batch dimension (1 for models without one).</summary>
    public int Rows { get; }

    /// <summary>The non-batch dimensions of its inputs: only requests with equal keys share a batch.</summary>
    public ShapeKey Shape { get; }

    /// <summary>When it was queued, in <see cref="TimeProvider"/> timestamp ticks.</summary>
    public long EnqueuedTimestamp { get; }

    /// <summary>When its queue timeout runs out, in <see cref="TimeProvider"/> timestamp ticks.</summary>
    public long DeadlineTimestamp { get; }

    /// <summary>The caller's cancellation.</summary>
    public CancellationToken RequestAborted { get; }

    /// <summary>The registration of the cancel callback, disposed once the request leaves the queue.</summary>
    public CancellationTokenRegistration CancelRegistration { get; set; }

    /// <summary>Completed with the response, an <see cref="InferenceException"/>, or cancellation.</summary>
    public TaskCompletionSource<InferenceResponse> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);   // caller code never runs on the batching loop

    /// <summary>The current state.</summary>
    public PendingState State => (PendingState)Volatile.Read(ref _state);

    /// <summary>Moves it out of the queue into <paramref name="next"/>; false when someone else already did.</summary>
    public bool TryMoveFromQueued(PendingState next) =>
        Interlocked.CompareExchange(ref _state, (int)next, (int)PendingState.Queued) == (int)PendingState.Queued;
}

/// <summary>Where a <see cref="PendingRequest"/> is.</summary>
internal enum PendingState
{
    /// <summary>Waiting in the queue.</summary>
    Queued = 0,
    /// <summary>Taken into a batch; it will run.</summary>
    Dispatched,
    /// <summary>Its caller cancelled while it was queued.</summary>
    Cancelled,
    /// <summary>It waited past its timeout.</summary>
    TimedOut,
    /// <summary>The version stopped before it ran.</summary>
    Aborted,
}

/// <summary>The non-batch dimensions of a request's inputs, in the model's input order; requests with equal keys can share a batch.</summary>
internal sealed class ShapeKey : IEquatable<ShapeKey>
{
    /// <summary>The key of requests that never share a batch with differently shaped ones (batching off).</summary>
    public static ShapeKey None { get; } = new([]);

    private readonly long[] _dims;
    private readonly int _hash;

    public ShapeKey(long[] dims)
    {
        _dims = dims;
        var hash = new HashCode();
        foreach (var dim in dims)
        {
            hash.Add(dim);
        }

        _hash = hash.ToHashCode();
    }

    /// <summary>Builds the key from the inputs' shapes, skipping the first (batch) dimension when <paramref name="batched"/>.</summary>
    public static ShapeKey From(IReadOnlyList<TensorData> orderedInputs, bool batched)
    {
        var length = 0;
        foreach (var input in orderedInputs)
        {
            length += input.Shape.Length + 1;
        }

        var dims = new long[length];
        var position = 0;
        foreach (var input in orderedInputs)
        {
            var shape = input.Shape.AsSpan(batched ? 1 : 0);
            dims[position++] = -(shape.Length + 1);   // separator: rank, so [2],[3,4] differs from [2,3],[4]
            shape.CopyTo(dims.AsSpan(position));
            position += shape.Length;
        }

        return new ShapeKey(dims[..position]);
    }

    public bool Equals(ShapeKey? other) => other is not null && _hash == other._hash && _dims.AsSpan().SequenceEqual(other._dims);

    public override bool Equals(object? obj) => Equals(obj as ShapeKey);

    public override int GetHashCode() => _hash;
}
