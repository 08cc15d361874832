using System.Runtime.InteropServices;
using System.Text;

namespace Sluice.Server.Telemetry;

/// <summary>
/// A minimal binding of NVML (<c>libnvidia-ml.so.1</c>, installed with the NVIDIA driver) for the GPU gauges. <see cref="TryOpen"/>
/// probes for the library first, so on machines without it nothing is bound and no GPU metric is ever reported.
/// </summary>
internal sealed class Nvml : IDisposable
{
    private const string Library = "libnvidia-ml.so.1";
    private const int Success = 0;

    private readonly Lock _lock = new();
    private readonly (nint Handle, string Uuid)[] _devices;
    private bool _disposed;

    private Nvml((nint, string)[] devices) => _devices = devices;

    /// <summary>The devices seen at open, with their UUIDs.</summary>
    public IReadOnlyList<(nint Handle, string Uuid)> Devices => _devices;

    /// <summary>Opens NVML; null (with the reason) when the library is missing, fails to initialize, or sees no GPU.</summary>
    public static Nvml? TryOpen(out string reason)
    {
        if (!NativeLibrary.TryLoad(Library, out _))
        {
            reason = $"{Library} not found";
            return null;
        }

        try
        {
            if (nvmlInit_v2() is var init and not Success)
            {
                reason = $"nvmlInit failed ({init})";
                return null;
            }

            if (nvmlDeviceGetCount_v2(out var count) != Success || count == 0)
            {
                _ = nvmlShutdown();
                reason = "no GPU";
                return null;
            }

            var devices = new List<(nint, string)>();
            var buffer = new byte[96];
            for (uint i = 0; i < count; i++)
            {
                if (nvmlDeviceGetHandleByIndex_v2(i, out var handle) == Success && nvmlDeviceGetUUID(handle, buffer, (uint)buffer.Length) == Success)
                {
                    var length = Array.IndexOf(buffer, (byte)0);
                    devices.Add((handle, Encoding.ASCII.GetString(buffer, 0, length < 0 ? buffer.Length : length)));
                }
            }

            reason = "";
            return new Nvml([.. devices]);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            reason = e.GetType().Name;
            return null;
        }
    }

    /// <summary>Memory of one device in bytes; null when NVML fails for it.</summary>
    /// <remarks>
    /// The v2 query's "used" leaves out the memory the driver reserves for itself (about 600 MiB on an H200), as nvidia-smi
    /// does; the v1 query counts it, which read 4-8% above nvidia-smi on the GPU machine. v1 is the fallback for drivers
    /// older than 510 that lack v2.
    /// </remarks>
    public (ulong Total, ulong Used)? Memory(nint device)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return null;
            }

            if (_memoryV2Supported)
            {
                try
                {
                    var v2 = new NvmlMemoryV2 { Version = NvmlMemoryV2Version };
                    if (nvmlDeviceGetMemoryInfo_v2(device, ref v2) == Success)
                    {
                        return (v2.Total, v2.Used);
                    }
                }
                catch (EntryPointNotFoundException)
                {
                }

                _memoryV2Supported = false;
            }

            return nvmlDeviceGetMemoryInfo(device, out var memory) == Success ? (memory.Total, memory.Used) : null;
        }
    }

    /// <summary>False once the driver refused the v2 memory query; guarded by <see cref="_lock"/>.</summary>
    private bool _memoryV2Supported = true;

    /// <summary>nvmlMemory_v2: the struct's size with the version number 2 in the top byte, as NVML's NVML_STRUCT_VERSION macro builds it.</summary>
    private static readonly uint NvmlMemoryV2Version = (uint)Marshal.SizeOf<NvmlMemoryV2>() | (2u << 24);

    /// <summary>GPU utilization over NVML's last sample period, 0..1; null when NVML fails.</summary>
    public double? Utilization(nint device)
    {
        lock (_lock)
        {
            return !_disposed && nvmlDeviceGetUtilizationRates(device, out var rates) == Success ? rates.Gpu / 100.0 : null;
        }
    }

    /// <summary>Power draw in watts; null when NVML fails or the device does not report it.</summary>
    public double? PowerWatts(nint device)
    {
        lock (_lock)
        {
            return !_disposed && nvmlDeviceGetPowerUsage(device, out var milliwatts) == Success ? milliwatts / 1000.0 : null;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                _disposed = true;
                _ = nvmlShutdown();
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct NvmlMemory
    {
        public ulong Total;
        public ulong Free;
        public ulong Used;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct NvmlMemoryV2
    {
        public uint Version;
        public ulong Total;
        public ulong Reserved;
        public ulong Free;
        public ulong Used;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct NvmlUtilization
    {
        public uint Gpu;
        public uint Memory;
    }

    [DllImport(Library)]
    private static extern int nvmlInit_v2();

    [DllImport(Library)]
    private static extern int nvmlShutdown();

    [DllImport(Library)]
    private static extern int nvmlDeviceGetCount_v2(out uint count);

    [DllImport(Library)]
    private static extern int nvmlDeviceGetHandleByIndex_v2(uint index, out nint device);

    [DllImport(Library)]
    private static extern int nvmlDeviceGetUUID(nint device, [Out] byte[] uuid, uint length);

    [DllImport(Library)]
    private static extern int nvmlDeviceGetMemoryInfo(nint device, out NvmlMemory memory);

    [DllImport(Library)]
    private static extern int nvmlDeviceGetMemoryInfo_v2(nint device, ref NvmlMemoryV2 memory);

    [DllImport(Library)]
    private static extern int nvmlDeviceGetUtilizationRates(nint device, out NvmlUtilization utilization);

    [DllImport(Library)]
    private static extern int nvmlDeviceGetPowerUsage(nint device, out uint milliwatts);
}
