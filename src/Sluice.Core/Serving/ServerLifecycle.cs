namespace Sluice.Core.Serving;

/// <summary>
/// Whether the server takes new work, and how many requests are in flight. SIGTERM calls <see cref="BeginDrain"/>: readiness
/// turns false at once, new requests are refused with 503, and shutdown waits on <see cref="WaitForDrainAsync"/>.
/// </summary>
public sealed class ServerLifecycle
{
    /// <summary>1 once draining began; read lock-free on every request.</summary>
    private int _draining;

    /// <summary>Requests admitted and not yet finished.</summary>
    private long _inFlight;

    /// <summary>Completed when draining began and the in-flight count reached zero.</summary>
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>True once shutdown began.</summary>
    public bool IsDraining => Volatile.Read(ref _draining) == 1;

    /// <summary>Requests admitted and not yet finished.</summary>
    public long InFlight => Interlocked.Read(ref _inFlight);

    /// <summary>Admits one request unless draining; pair every true with <see cref="Exit"/>.</summary>
    public bool TryEnter()
    {
        Interlocked.Increment(ref _inFlight);
        if (IsDraining)
        {
            Exit();
            return false;
        }

        return true;
    }

    /// <summary>Marks one admitted request finished.</summary>
    public void Exit()
    {
        if (Interlocked.Decrement(ref _inFlight) == 0 && IsDraining)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>Stops admitting new requests. Idempotent.</summary>
    public void BeginDrain()
    {
        if (Interlocked.Exchange(ref _draining, 1) == 0 && Interlocked.Read(ref _inFlight) == 0)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>Waits until every admitted request finished, or the timeout passed; true when drained.</summary>
    public async Task<bool> WaitForDrainAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await _drained.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }
}
