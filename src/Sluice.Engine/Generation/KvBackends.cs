using Sluice.Core.Generation;

namespace Sluice.Engine.Generation;

/// <summary>
/// Where a decoder model's KV cache lives and how a step runs over it: the scheduler reserves cache for a sequence when it
/// joins the running batch, releases it when the sequence ends, and hands each step's items here.
/// </summary>
internal interface IKvBackend : IDisposable
{
    /// <summary>Cache units in the budget (blocks or slots).</summary>
    int TotalUnits { get; }

    /// <summary>Units reserved by running sequences.</summary>
    int UsedUnits { get; }

    /// <summary>Bytes preallocated.</summary>
    long TotalBytes { get; }

    /// <summary>Tokens one sequence can ever hold in this cache.</summary>
    int MaxSequenceTokens { get; }

    /// <summary>What the cache is and where, for logs.</summary>
    string Description { get; }

    /// <summary>Reserves what a sequence of prompt + max_tokens needs; false when the budget lacks it now.</summary>
    bool TryReserve(Sequence sequence);

    /// <summary>Returns a sequence's reservation.</summary>
    void Release(Sequence sequence);

    /// <summary>
    /// Runs one batch: decodes (one token each; returns each item's logits, row b at <c>[b * vocab, (b + 1) * vocab)</c> of
    /// an array the backend owns, valid until its next run, and possibly tokens already chosen) or prefill chunks (cache
    /// only: returns empty logits).
    /// </summary>
    ValueTask<StepLogits> RunAsync(IReadOnlyList<StepItem> items, bool decode, CancellationToken cancellationToken);
}

/// <summary>
/// What a decode step gives the sampler: row b of <paramref name="Logits"/> for item b, and, when
/// <paramref name="Chosen"/> is not null, item b's token already picked where <c>Chosen[b] &gt;= 0</c> (a greedy sequence
/// whose argmax the model computed on the device; its logits row is then not filled).
/// </summary>
internal readonly record struct StepLogits(float[] Logits, int[]? Chosen)
{
    public static StepLogits None { get; } = new([], null);
}

/// <summary>Explicit-KV decoders: a block pool in host memory, gathered into the model's past inputs each step.</summary>
internal sealed class BlockKvBackend(KvCachePool cache, DecoderExecutor executor, int contextLength, IDisposable runner) : IKvBackend
{
    public int TotalUnits => cache.TotalBlocks;

    public int UsedUnits => cache.ReservedBlocks;

    public long TotalBytes => cache.TotalBytes;

    public int MaxSequenceTokens => Math.Min(contextLength, cache.TotalBlocks * cache.BlockSize);

    public string Description => $"{cache.TotalBlocks} blocks of {cache.BlockSize} tokens in host memory";

    public bool TryReserve(Sequence sequence)
    {
        var blocks = cache.BlocksFor(sequence.PromptLength + sequence.Request.Sampling.MaxTokens);
        if (!cache.TryReserve(blocks))
        {
            return false;
        }

        sequence.Reservation = blocks;
        return true;
    }

    public void Release(Sequence sequence)
    {
        cache.Release(sequence.Blocks, sequence.Reservation);
        sequence.Reservation = 0;
    }

    public async ValueTask<StepLogits> RunAsync(IReadOnlyList<StepItem> items, bool decode, CancellationToken cancellationToken)
    {
        foreach (var item in items)
        {
            executor.EnsureBlocks(item.Sequence, item.Start + item.Count);
        }

        return new StepLogits(await executor.RunAsync(items, decode, cancellationToken).ConfigureAwait(false), null);
    }

    public void Dispose()
    {
        runner.Dispose();
        cache.Dispose();
    }
}

/// <summary>
/// Shared-buffer decoders: the runner owns the cache (on the GPU with CUDA), one slot per running sequence; used slots
/// stay contiguous (0..n-1) so a decode step binds the first n rows. A sequence that ends hands its slot to the last one.
/// </summary>
internal sealed class SlotKvBackend : IKvBackend
{
    private readonly ISlotDecoderRunner _runner;
    private readonly Sequence?[] _occupants;
    private readonly int _vocab;
    private int _used;
    private float[] _logits = [];
    private int[] _rows = [];
    private int[] _argmax = [];
    private int[] _chosen = [];
    private int[] _tokens = [];
    private int[] _positions = [];

    public SlotKvBackend(ISlotDecoderRunner runner, int vocab)
    {
        _runner = runner;
        _vocab = vocab;
        _occupants = new Sequence?[runner.Slots];
    }

    public int TotalUnits => _runner.Slots;

    public int UsedUnits => Volatile.Read(ref _used);

    public long TotalBytes => _runner.CacheBytes;

    public int MaxSequenceTokens => _runner.SlotLength;

    public string Description => $"{_runner.Slots} slots of {_runner.SlotLength} tokens on {_runner.Description}";

    public bool TryReserve(Sequence sequence)
    {
        if (_used == _occupants.Length)
        {
            return false;
        }

        sequence.Slot = _used;
        sequence.Reservation = 1;
        _occupants[_used] = sequence;
        Volatile.Write(ref _used, _used + 1);
        return true;
    }

    public void Release(Sequence sequence)
    {
        var slot = sequence.Slot;
        var last = _used - 1;
        if (slot < 0 || _occupants[slot] != sequence)
        {
            return;
        }

        if (slot != last)
        {
            _runner.MoveSlot(last, slot);
            var moved = _occupants[last]!;
            _occupants[slot] = moved;
            moved.Slot = slot;
        }

        _occupants[last] = null;
        sequence.Slot = -1;
        sequence.Reservation = 0;
        Volatile.Write(ref _used, last);
    }

    public ValueTask<StepLogits> RunAsync(IReadOnlyList<StepItem> items, bool decode, CancellationToken cancellationToken)
    {
        if (!decode)
        {
            Prefill(items);
            return ValueTask.FromResult(StepLogits.None);
        }

        // Every used slot takes part; one without a decode item this step (its prefill is pending or part-done) writes a
        // throw-away entry at its next position, which its own next prefill chunk overwrites.
        var n = _used;
        if (_tokens.Length < n)
        {
            _tokens = new int[_occupants.Length];
            _positions = new int[_occupants.Length];
            _rows = new int[_occupants.Length];
            _argmax = new int[_occupants.Length];
            _chosen = new int[_occupants.Length];
            _logits = new float[_occupants.Length * _vocab];
        }

        for (var slot = 0; slot < n; slot++)
        {
            var sequence = _occupants[slot]!;
            _tokens[slot] = 0;
            _positions[slot] = Math.Min(sequence.Cached, _runner.SlotLength - 1);
        }

        foreach (var item in items)
        {
            _tokens[item.Sequence.Slot] = item.Sequence.Tokens[item.Start];
            _positions[item.Sequence.Slot] = item.Start;
        }

        // Greedy sequences that want no log-probabilities take the model's own argmax: their logits never leave the device.
        var fast = _runner.HasArgMax;
        for (var b = 0; b < items.Count; b++)
        {
            var sequence = items[b].Sequence;
            var greedy = fast && sequence.Sampler.IsGreedy && sequence.Request.Sampling.Logprobs is null;
            _rows[b] = greedy ? -1 : sequence.Slot;
        }

        _runner.Decode(_tokens.AsSpan(0, n), _positions.AsSpan(0, n), _rows.AsSpan(0, items.Count), _logits, _argmax);
        if (!fast)
        {
            return ValueTask.FromResult(new StepLogits(_logits, null));
        }

        for (var b = 0; b < items.Count; b++)
        {
            _chosen[b] = _rows[b] < 0 ? _argmax[items[b].Sequence.Slot] : -1;
        }

        return ValueTask.FromResult(new StepLogits(_logits, _chosen));
    }

    public void Dispose() => _runner.Dispose();

    /// <summary>
    /// Prefills the chunks: first chunks of prompts in consecutive slots go together (new sequences take the next free
    /// slots, so those admitted in one step usually sit side by side), every other chunk runs alone.
    /// </summary>
    private void Prefill(IReadOnlyList<StepItem> items)
    {
        var first = new List<StepItem>(items.Count);
        foreach (var item in items)
        {
            if (item.Start == 0)
            {
                first.Add(item);
            }
            else
            {
                _runner.Prefill(item.Sequence.Slot, TokensOf(item), item.Start, []);
            }
        }

        first.Sort(static (a, b) => a.Sequence.Slot.CompareTo(b.Sequence.Slot));
        for (var start = 0; start < first.Count;)
        {
            var end = start + 1;
            while (end < first.Count && first[end].Sequence.Slot == first[end - 1].Sequence.Slot + 1)
            {
                end++;
            }

            if (end - start == 1)
            {
                _runner.Prefill(first[start].Sequence.Slot, TokensOf(first[start]), 0, []);
            }
            else
            {
                PrefillTogether(first, start, end);
            }

            start = end;
        }
    }

    private void PrefillTogether(List<StepItem> run, int start, int end)
    {
        var rows = end - start;
        var width = 0;
        for (var i = start; i < end; i++)
        {
            width = Math.Max(width, run[i].Count);
        }

        var tokens = new int[rows * width];   // padding rows with token 0
        var lengths = new int[rows];
        for (var r = 0; r < rows; r++)
        {
            var item = run[start + r];
            TokensOf(item).CopyTo(tokens.AsSpan(r * width, item.Count));
            lengths[r] = item.Count;
        }

        _runner.PrefillPrompts(run[start].Sequence.Slot, tokens, width, lengths);
    }

    private static ReadOnlySpan<int> TokensOf(StepItem item) =>
        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(item.Sequence.Tokens).Slice(item.Start, item.Count);
}
