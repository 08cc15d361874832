namespace Sluice.Bench.Load;

/// <summary>How requests arrive in an open-loop run.</summary>
public enum ArrivalPattern
{
    /// <summary>Evenly spaced: one request every 1/rate seconds.</summary>
    Constant,
    /// <summary>A Poisson process: exponential gaps with mean 1/rate (bursts, as real traffic has).</summary>
    Poisson,
}

/// <summary>One load level of a run: a closed loop at a concurrency, or an open loop at a request rate.</summary>
/// <param name="Concurrency">Requests kept in flight (closed loop), or null for an open loop.</param>
/// <param name="Rate">Requests per second sent by the clock (open loop), or null for a closed loop.</param>
/// <param name="Arrival">The open loop's arrival pattern.</param>
public sealed record LoadLevel(int? Concurrency, double? Rate, ArrivalPattern Arrival = ArrivalPattern.Constant)
{
    /// <summary>A closed loop keeping <paramref name="concurrency"/> requests in flight.</summary>
    public static LoadLevel Closed(int concurrency) => new(concurrency, null);

    /// <summary>An open loop sending <paramref name="rate"/> requests per second.</summary>
    public static LoadLevel Open(double rate, ArrivalPattern arrival = ArrivalPattern.Constant) => new(null, rate, arrival);

    /// <summary>True for an open loop.</summary>
    public bool IsOpenLoop => Rate is not null;

    /// <summary>The level as a number (concurrency or rate), for tables and plots.</summary>
    public double Value => Rate ?? Concurrency ?? 0;

    /// <inheritdoc />
    public override string ToString() => IsOpenLoop
        ? $"rate {LoadSweep.Format(Rate!.Value)}/s{(Arrival == ArrivalPattern.Poisson ? " poisson" : "")}"
        : $"concurrency {Concurrency}";
}

/// <summary>How long one measurement window lasts: a duration, or a count of requests.</summary>
/// <param name="Duration">The window's length, when time-based.</param>
/// <param name="Requests">The number of requests, when count-based.</param>
public sealed record MeasurementWindow(TimeSpan? Duration, long? Requests)
{
    /// <summary>A time-based window.</summary>
    public static MeasurementWindow For(TimeSpan duration) => new(duration, null);

    /// <summary>A count-based window.</summary>
    public static MeasurementWindow Count(long requests) => new(null, requests);
}
