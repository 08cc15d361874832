using System.Collections.Concurrent;

namespace Sluice.Onnx.Runtime;

/// <summary>
/// Keeps CUDA graph capture alone on its GPU. ONNX Runtime captures in the global capture mode, where any other thread's
/// allocation or synchronizing call on the device invalidates the capture (seen on an H200: two instances of one model,
/// each capturing its buckets, failed with <c>cudaErrorStreamCaptureUnsupported</c>). So every run of the IOBinding path
/// on a GPU holds that GPU's gate shared, and a run that may capture holds it exclusively.
/// </summary>
internal static class CudaGraphCaptureGate
{
    private static readonly ConcurrentDictionary<int, ReaderWriterLockSlim> s_gates = new();

    /// <summary>The gate of one GPU, created on first use and kept for the process.</summary>
    public static ReaderWriterLockSlim For(int deviceId) =>
        s_gates.GetOrAdd(deviceId, static _ => new ReaderWriterLockSlim(LockRecursionPolicy.NoRecursion));

    /// <summary>Enters <paramref name="gate"/> shared or exclusive; dispose the result on the same thread to leave.</summary>
    public static Scope Enter(ReaderWriterLockSlim? gate, bool exclusive)
    {
        if (gate is null)
        {
            return default;
        }

        if (exclusive)
        {
            gate.EnterWriteLock();
        }
        else
        {
            gate.EnterReadLock();
        }

        return new Scope(gate, exclusive);
    }

    /// <summary>Leaves the gate it entered (nothing for a default instance).</summary>
    public readonly struct Scope(ReaderWriterLockSlim? gate, bool exclusive) : IDisposable
    {
        public void Dispose()
        {
            if (gate is null)
            {
                return;
            }

            if (exclusive)
            {
                gate.ExitWriteLock();
            }
            else
            {
                gate.ExitReadLock();
            }
        }
    }
}
