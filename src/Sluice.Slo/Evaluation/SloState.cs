using System.Diagnostics;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Evaluation;

/// <summary>The mutable runtime state of one SLO. Request threads touch only the Interlocked counters; the rest belongs to
/// the evaluation thread.</summary>
internal sealed class SloState
{
    public SloState(SloSpec spec, DateTimeOffset now)
    {
        Spec = spec;
        Buckets = new CountBuckets(spec.Window);
        SliceStart = AlignSlice(now);
    }

    /// <summary>The SLO.</summary>
    public SloSpec Spec { get; }

    /// <summary>Minute and hour counts; evaluation thread only.</summary>
    public CountBuckets Buckets { get; }

    /// <summary>Cumulative good events (request SLIs, written by request threads) or good slices (timeslice SLIs).</summary>
    public long Good;

    /// <summary>Cumulative bad events or slices.</summary>
    public long Bad;

    /// <summary>The cumulative good/bad values already moved into <see cref="Buckets"/>; evaluation thread only.</summary>
    public long IngestedGood, IngestedBad;

    /// <summary>The last values given to <see cref="SloEvaluator.IngestCumulative"/>, for reset detection; evaluation thread only.</summary>
    public long ExternalGood, ExternalBad;

    /// <summary>The current slice's execution counts (throughput and batching), written by the batching threads.</summary>
    public long SliceInferences, SliceExecutions, SlicePreferred, SliceBacklogged;

    /// <summary>The current slice's gauge samples and their maximum (resource), written by the sampling thread.</summary>
    public long GaugeSamples;

    /// <summary>The highest gauge sample in the current slice (CAS-updated).</summary>
    public double GaugeMax = double.NegativeInfinity;

    /// <summary>Start of the current slice; evaluation thread only.</summary>
    public DateTimeOffset SliceStart;

    /// <summary>The page alert; evaluation thread only.</summary>
    public AlertStatus Page = AlertStatus.Initial;

    /// <summary>The ticket alert; evaluation thread only.</summary>
    public AlertStatus Ticket = AlertStatus.Initial;

    public DateTimeOffset AlignSlice(DateTimeOffset at)
    {
        long sliceMs = (long)Spec.TimesliceLength.TotalMilliseconds;
        long ms = at.ToUnixTimeMilliseconds();
        return DateTimeOffset.FromUnixTimeMilliseconds(ms - (ms % sliceMs));
    }

    public void RecordGauge(double value)
    {
        Interlocked.Increment(ref GaugeSamples);
        double current = Volatile.Read(ref GaugeMax);
        while (value > current)
        {
            double seen = Interlocked.CompareExchange(ref GaugeMax, value, current);
            if (seen == current)
            {
                break;
            }

            current = seen;
        }
    }

    /// <summary>Moves cumulative counts into the buckets, treating a decrease as a counter reset (as Prometheus's rate does).</summary>
    public static (long Good, long Bad) Delta(long good, long bad, ref long lastGood, ref long lastBad)
    {
        long dGood = good >= lastGood ? good - lastGood : good;
        long dBad = bad >= lastBad ? bad - lastBad : bad;
        lastGood = good;
        lastBad = bad;
        Debug.Assert(dGood >= 0 && dBad >= 0, "counts never go negative");
        return (dGood, dBad);
    }
}
