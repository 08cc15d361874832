namespace Sluice.Engine.Statistics;

/// <summary>
/// Outcome counts of one model version's requests. Invariant, once nothing is in flight:
/// <c>Admitted = Succeeded + Failed + Cancelled + TimedOut</c>; <c>Rejected</c> (queue full) were never admitted.
/// </summary>
public readonly record struct RequestCounts(long Admitted, long Succeeded, long Failed, long Cancelled, long TimedOut, long Rejected)
{
    /// <summary>Admitted requests that have not finished yet.</summary>
    public long InFlight => Admitted - Succeeded - Failed - Cancelled - TimedOut;
}

/// <summary>Thread-safe counters behind <see cref="RequestCounts"/>; each outcome is counted exactly once, where it is decided.</summary>
internal sealed class RequestCounters
{
    /// <summary>Requests that entered the queue.</summary>
    private long _admitted;
    /// <summary>Requests that got a response.</summary>
    private long _succeeded;
    /// <summary>Admitted requests that failed in the runner or were aborted by an unload.</summary>
    private long _failed;
    /// <summary>Admitted requests whose caller cancelled while they were queued.</summary>
    private long _cancelled;
    /// <summary>Admitted requests that waited past their queue timeout.</summary>
    private long _timedOut;
    /// <summary>Requests refused because the queue was full (never admitted).</summary>
    private long _rejected;

    public void Admitted() => Interlocked.Increment(ref _admitted);
    public void Succeeded() => Interlocked.Increment(ref _succeeded);
    public void Failed() => Interlocked.Increment(ref _failed);
    public void Cancelled() => Interlocked.Increment(ref _cancelled);
    public void TimedOut() => Interlocked.Increment(ref _timedOut);
    public void Rejected() => Interlocked.Increment(ref _rejected);

    public RequestCounts Snapshot() => new(
        Interlocked.Read(ref _admitted), Interlocked.Read(ref _succeeded), Interlocked.Read(ref _failed),
        Interlocked.Read(ref _cancelled), Interlocked.Read(ref _timedOut), Interlocked.Read(ref _rejected));
}
