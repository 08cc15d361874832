using System.Diagnostics;
using System.Threading.Channels;
using Sluice.Core.Generation;

namespace Sluice.Engine.Generation;

/// <summary>One admitted sequence as the scheduler tracks it. Mutated on the scheduler thread only, except cancellation.</summary>
internal sealed class Sequence
{
    private int _cancelRequested;

    public Sequence(string id, GenerationRequest request, Sampler sampler, TextStream text, long admittedTicks)
    {
        Id = id;
        Request = request;
        Sampler = sampler;
        Text = text;
        AdmittedTicks = admittedTicks;
        Tokens = new List<int>(request.PromptTokens.Length + request.Sampling.MaxTokens);
        Tokens.AddRange(request.PromptTokens);
    }

    public string Id { get; }
    public GenerationRequest Request { get; }
    public Sampler Sampler { get; }
    public TextStream Text { get; }
    public int PromptLength => Request.PromptTokens.Length;

    /// <summary>Prompt and generated tokens.</summary>
    public List<int> Tokens { get; }

    /// <summary>Tokens whose keys and values are in the cache.</summary>
    public int Cached { get; set; }

    /// <summary>Blocks holding this sequence's cache, in token order.</summary>
    public List<int> Blocks { get; } = [];

    /// <summary>Its slot in a slot cache (-1 when none).</summary>
    public int Slot { get; set; } = -1;

    /// <summary>Blocks reserved for it (0 while waiting).</summary>
    public int Reservation { get; set; }

    public int Generated => Tokens.Count - PromptLength;

    /// <summary>True while prompt tokens other than the last are not in the cache (the last one is decoded, see the scheduler).</summary>
    public bool IsPrefilling => Cached < PromptLength - 1;

    public Channel<GenerationUpdate> Updates { get; } =
        Channel.CreateUnbounded<GenerationUpdate>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    public bool CancelRequested => Volatile.Read(ref _cancelRequested) != 0;

    public bool Ended { get; set; }

    public long AdmittedTicks { get; }
    public long ScheduledTicks { get; set; }
    public long FirstTokenTicks { get; set; }
    public long LastTokenTicks { get; set; }

    /// <summary>Gaps between consecutive tokens after the first, in Stopwatch ticks.</summary>
    public List<long> InterTokenTicks { get; } = [];

    /// <summary>Marks it for cancellation; returns true the first time.</summary>
    public bool RequestCancel() => Interlocked.Exchange(ref _cancelRequested, 1) == 0;

    public GenerationUsage Usage(long nowTicks)
    {
        var itl = TimeSpan.Zero;
        if (InterTokenTicks.Count > 0)
        {
            itl = Stopwatch.GetElapsedTime(0, (long)InterTokenTicks.Average());
        }

        return new GenerationUsage(
            PromptLength,
            Generated,
            Elapsed(AdmittedTicks, ScheduledTicks),
            Elapsed(AdmittedTicks, FirstTokenTicks),
            Elapsed(AdmittedTicks, nowTicks),
            itl);
    }

    /// <summary>The 95th percentile of the sequence's inter-token gaps (nearest rank), zero with none.</summary>
    public TimeSpan P95InterTokenLatency()
    {
        if (InterTokenTicks.Count == 0)
        {
            return TimeSpan.Zero;
        }

        var sorted = InterTokenTicks.ToArray();
        Array.Sort(sorted);
        var rank = (int)Math.Ceiling(0.95 * sorted.Length) - 1;
        return Stopwatch.GetElapsedTime(0, sorted[Math.Clamp(rank, 0, sorted.Length - 1)]);
    }

    private static TimeSpan Elapsed(long from, long to) => to <= 0 || to < from ? TimeSpan.Zero : Stopwatch.GetElapsedTime(from, to);
}
