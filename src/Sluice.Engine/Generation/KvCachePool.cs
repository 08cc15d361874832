using System.Runtime.InteropServices;

namespace Sluice.Engine.Generation;

/// <summary>
/// The KV cache: a fixed budget of blocks, allocated once at load, handed to sequences a block at a time and reused after
/// they end; nothing is reallocated per token. A sequence reserves the blocks it can ever need (prompt + max_tokens) when it
/// joins the running batch, so a running sequence never finds the cache full; a sequence that does not fit waits.
/// Block layout: <c>[layer][key|value][kv head][token in block][head dim]</c>, so one head's run of tokens is contiguous.
/// </summary>
/// <remarks>Used from the scheduler thread only, except the read-only counters.</remarks>
internal sealed unsafe class KvCachePool : IDisposable
{
    private readonly byte* _memory;
    private readonly int[] _free;
    private int _freeCount;
    private int _reserved;

    public KvCachePool(int blocks, int blockSize, int layers, int kvHeads, int headDim, int elementSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blocks, 1);
        BlockSize = blockSize;
        Layers = layers;
        KvHeads = kvHeads;
        HeadDim = headDim;
        ElementSize = elementSize;
        RunBytes = blockSize * headDim * elementSize;
        BlockBytes = (long)RunBytes * layers * 2 * kvHeads;
        TotalBlocks = blocks;
        _memory = (byte*)NativeMemory.AlignedAlloc((nuint)(BlockBytes * blocks), 64);
        _free = new int[blocks];
        for (var i = 0; i < blocks; i++)
        {
            _free[i] = blocks - 1 - i;   // hand out low ids first
        }

        _freeCount = blocks;
    }

    public int BlockSize { get; }
    public int Layers { get; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    public int ElementSize { get; }

    /// <summary>Bytes of one head's run of <see cref="BlockSize"/> tokens.</summary>
    public int RunBytes { get; }

    /// <summary>Bytes per block (all layers, keys and values).</summary>
    public long BlockBytes { get; }

    /// <summary>Blocks in the budget.</summary>
    public int TotalBlocks { get; }

    /// <summary>Blocks reserved by running sequences (allocated or not yet).</summary>
    public int ReservedBlocks => Volatile.Read(ref _reserved);

    /// <summary>Bytes preallocated.</summary>
    public long TotalBytes => BlockBytes * TotalBlocks;

    /// <summary>Blocks a sequence of <paramref name="tokens"/> tokens needs.</summary>
    public int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>Reserves <paramref name="blocks"/> blocks if the budget has them.</summary>
    public bool TryReserve(int blocks)
    {
        if (_reserved + blocks > TotalBlocks)
        {
            return false;
        }

        Volatile.Write(ref _reserved, _reserved + blocks);
        return true;
    }

    /// <summary>Takes a free block out of a reservation made earlier.</summary>
    public int Allocate()
    {
        if (_freeCount == 0)
        {
            throw new InvalidOperationException("KV cache block allocated beyond the reservations: accounting bug.");
        }

        return _free[--_freeCount];
    }

    /// <summary>Returns a sequence's blocks and the rest of its reservation.</summary>
    public void Release(List<int> blocks, int reservation)
    {
        foreach (var block in blocks)
        {
            _free[_freeCount++] = block;
        }

        blocks.Clear();
        Volatile.Write(ref _reserved, _reserved - reservation);
    }

    /// <summary>One head's run of tokens in a block: <see cref="BlockSize"/> x <see cref="HeadDim"/> elements.</summary>
    public Span<byte> Run(int block, int layer, int keyOrValue, int head) =>
        new(_memory + block * BlockBytes + ((((long)layer * 2 + keyOrValue) * KvHeads) + head) * RunBytes, RunBytes);

    public void Dispose() => NativeMemory.AlignedFree(_memory);
}
