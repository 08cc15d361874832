using System.Buffers;
using System.Runtime.InteropServices;

namespace Sluice.Engine.Generation;

/// <summary>
/// A pinned float array that can also be handed out as <see cref="Memory{T}"/> of bytes, so a runner writes FP32 outputs
/// straight into it and samplers read them as floats, with no copy between.
/// </summary>
internal sealed unsafe class PinnedFloats : MemoryManager<byte>
{
    public PinnedFloats(int length)
    {
        Array = GC.AllocateUninitializedArray<float>(length, pinned: true);
    }

    /// <summary>The floats (pinned for the object's life).</summary>
    public float[] Array { get; }

    /// <inheritdoc />
    public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(Array.AsSpan());

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)elementIndex, (uint)(Array.Length * sizeof(float)), nameof(elementIndex));
        return new MemoryHandle((byte*)Marshal.UnsafeAddrOfPinnedArrayElement(Array, 0) + elementIndex);
    }

    /// <inheritdoc />
    public override void Unpin()
    {
        // Pinned at allocation.
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        // The array is garbage-collected.
    }
}
