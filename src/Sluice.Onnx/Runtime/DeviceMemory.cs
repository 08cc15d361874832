using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace Sluice.Onnx.Runtime;

/// <summary>
/// Where <see cref="DeviceBindingRunner"/> keeps its bound buffers and how bytes move between them and the host: CUDA device
/// memory with pinned host staging (<see cref="CudaDeviceMemory"/>), or plain host memory standing in for the device
/// (<see cref="HostDeviceMemory"/>, so the IOBinding path runs, and is tested, without a GPU).
/// </summary>
internal abstract class DeviceMemory
{
    /// <summary>The memory info of device buffers, as ONNX Runtime sees them.</summary>
    public abstract OrtMemoryInfo DeviceMemoryInfo { get; }

    /// <summary>The device's CUDA graph capture gate (<see cref="CudaGraphCaptureGate"/>); null where nothing is captured.</summary>
    public virtual ReaderWriterLockSlim? CaptureGate => null;

    /// <summary>Makes the device current on the calling thread (runs may hop threads between calls).</summary>
    public abstract void MakeCurrent();

    /// <summary>Allocates <paramref name="bytes"/> (at least 1) of device memory.</summary>
    public abstract IntPtr AllocateDevice(long bytes);

    public abstract void FreeDevice(IntPtr pointer);

    /// <summary>Allocates <paramref name="bytes"/> (at least 1) of host memory the device copies from and to quickly (pinned).</summary>
    public abstract IntPtr AllocateStaging(long bytes);

    public abstract void FreeStaging(IntPtr pointer);

    /// <summary>Starts copying host staging to device; complete once <see cref="WaitForCopies"/> returns.</summary>
    public abstract void CopyToDevice(IntPtr device, IntPtr staging, long bytes);

    /// <summary>Starts copying device to host staging; complete once <see cref="WaitForCopies"/> returns.</summary>
    public abstract void CopyToHost(IntPtr staging, IntPtr device, long bytes);

    /// <summary>Starts copying between two device buffers; complete once <see cref="WaitForCopies"/> returns.</summary>
    public abstract void CopyWithinDevice(IntPtr destination, IntPtr source, long bytes);

    /// <summary>Returns once every copy started so far is complete.</summary>
    public abstract void WaitForCopies();
}

/// <summary>Host memory standing in for a device: the CPU provider reads bound host buffers directly.</summary>
internal sealed class HostDeviceMemory : DeviceMemory
{
    public static HostDeviceMemory Instance { get; } = new();

    private HostDeviceMemory()
    {
    }

    public override OrtMemoryInfo DeviceMemoryInfo => OrtMemoryInfo.DefaultInstance;

    public override void MakeCurrent()
    {
    }

    public override unsafe IntPtr AllocateDevice(long bytes) => (IntPtr)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), 64);

    public override unsafe void FreeDevice(IntPtr pointer) => NativeMemory.AlignedFree((void*)pointer);

    public override IntPtr AllocateStaging(long bytes) => AllocateDevice(bytes);

    public override void FreeStaging(IntPtr pointer) => FreeDevice(pointer);

    public override unsafe void CopyToDevice(IntPtr device, IntPtr staging, long bytes) =>
        Buffer.MemoryCopy((void*)staging, (void*)device, bytes, bytes);

    public override unsafe void CopyToHost(IntPtr staging, IntPtr device, long bytes) =>
        Buffer.MemoryCopy((void*)device, (void*)staging, bytes, bytes);

    public override unsafe void CopyWithinDevice(IntPtr destination, IntPtr source, long bytes) =>
        Buffer.MemoryCopy((void*)source, (void*)destination, bytes, bytes);

    public override void WaitForCopies()
    {
    }
}

/// <summary>
/// CUDA device memory on one GPU through the CUDA runtime that ONNX Runtime's CUDA provider loads anyway
/// (<c>libcudart.so.13</c>): <c>cudaMalloc</c> buffers, <c>cudaMallocHost</c> staging, copies on a non-blocking stream of
/// its own (so one instance's copies never wait for another instance's kernels, as the legacy default stream would),
/// each waited for before the call returns.
/// </summary>
internal sealed class CudaDeviceMemory : DeviceMemory, IDisposable
{
    private readonly int _deviceId;
    private readonly OrtMemoryInfo _memoryInfo;
    private readonly IntPtr _copyStream;

    public CudaDeviceMemory(int deviceId)
    {
        _deviceId = deviceId;
        CudaRuntimeApi.Check(CudaRuntimeApi.cudaSetDevice(deviceId), "cudaSetDevice");
        CudaRuntimeApi.Check(CudaRuntimeApi.cudaStreamCreateWithFlags(out _copyStream, CudaRuntimeApi.StreamNonBlocking), "cudaStreamCreateWithFlags");
        _memoryInfo = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, deviceId, OrtMemType.Default);
    }

    public override OrtMemoryInfo DeviceMemoryInfo => _memoryInfo;

    public override ReaderWriterLockSlim? CaptureGate => CudaGraphCaptureGate.For(_deviceId);

    public override void MakeCurrent() => CudaRuntimeApi.Check(CudaRuntimeApi.cudaSetDevice(_deviceId), "cudaSetDevice");

    public override IntPtr AllocateDevice(long bytes)
    {
        CudaRuntimeApi.Check(CudaRuntimeApi.cudaMalloc(out var pointer, (nuint)Math.Max(bytes, 1)), "cudaMalloc");
        return pointer;
    }

    public override void FreeDevice(IntPtr pointer) => CudaRuntimeApi.cudaFree(pointer);

    public override IntPtr AllocateStaging(long bytes)
    {
        CudaRuntimeApi.Check(CudaRuntimeApi.cudaMallocHost(out var pointer, (nuint)Math.Max(bytes, 1)), "cudaMallocHost");
        return pointer;
    }

    public override void FreeStaging(IntPtr pointer) => CudaRuntimeApi.cudaFreeHost(pointer);

    public override void CopyToDevice(IntPtr device, IntPtr staging, long bytes)
    {
        if (bytes > 0)
        {
            CudaRuntimeApi.Check(CudaRuntimeApi.cudaMemcpyAsync(device, staging, (nuint)bytes, CudaRuntimeApi.HostToDevice, _copyStream), "cudaMemcpyAsync host to device");
        }
    }

    public override void CopyToHost(IntPtr staging, IntPtr device, long bytes)
    {
        if (bytes > 0)
        {
            CudaRuntimeApi.Check(CudaRuntimeApi.cudaMemcpyAsync(staging, device, (nuint)bytes, CudaRuntimeApi.DeviceToHost, _copyStream), "cudaMemcpyAsync device to host");
        }
    }

    public override void CopyWithinDevice(IntPtr destination, IntPtr source, long bytes)
    {
        if (bytes > 0)
        {
            CudaRuntimeApi.Check(CudaRuntimeApi.cudaMemcpyAsync(destination, source, (nuint)bytes, CudaRuntimeApi.DeviceToDevice, _copyStream), "cudaMemcpyAsync device to device");
        }
    }

    public override void WaitForCopies() => CudaRuntimeApi.Check(CudaRuntimeApi.cudaStreamSynchronize(_copyStream), "cudaStreamSynchronize");

    public void Dispose()
    {
        CudaRuntimeApi.cudaStreamDestroy(_copyStream);
        _memoryInfo.Dispose();
    }
}

/// <summary>The few CUDA runtime calls the IOBinding path needs. Only called when the CUDA provider is in use.</summary>
internal static partial class CudaRuntimeApi
{
    private const string Library = "libcudart.so.13";
    public const int HostToDevice = 1;
    public const int DeviceToHost = 2;
    public const int DeviceToDevice = 3;
    public const uint StreamNonBlocking = 1;

    [LibraryImport(Library)]
    public static partial int cudaSetDevice(int device);

    [LibraryImport(Library)]
    public static partial int cudaMalloc(out IntPtr pointer, nuint size);

    [LibraryImport(Library)]
    public static partial int cudaFree(IntPtr pointer);

    [LibraryImport(Library)]
    public static partial int cudaMallocHost(out IntPtr pointer, nuint size);

    [LibraryImport(Library)]
    public static partial int cudaFreeHost(IntPtr pointer);

    [LibraryImport(Library)]
    public static partial int cudaMemcpyAsync(IntPtr destination, IntPtr source, nuint count, int kind, IntPtr stream);

    [LibraryImport(Library)]
    public static partial int cudaStreamCreateWithFlags(out IntPtr stream, uint flags);

    [LibraryImport(Library)]
    public static partial int cudaStreamSynchronize(IntPtr stream);

    [LibraryImport(Library)]
    public static partial int cudaStreamDestroy(IntPtr stream);

    [LibraryImport(Library)]
    private static partial IntPtr cudaGetErrorString(int error);

    /// <summary>Throws an <see cref="InvalidOperationException"/> naming the call and CUDA's message when <paramref name="status"/> is not success.</summary>
    public static void Check(int status, string call)
    {
        if (status != 0)
        {
            var text = Marshal.PtrToStringAnsi(cudaGetErrorString(status)) ?? "unknown error";
            throw new InvalidOperationException($"{call} failed: CUDA error {status} ({text}).");
        }
    }
}
