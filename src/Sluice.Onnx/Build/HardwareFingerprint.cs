using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Sluice.Onnx.Build;

/// <summary>One GPU as NVML reports it.</summary>
public sealed record GpuFingerprint(string Name, string ComputeCapability, string DriverVersion, string CudaVersion);

/// <summary>
/// What an engine was built for: the CPU model and the ISA extensions that decide which kernels ONNX Runtime picks, and
/// the GPUs (name, compute capability, driver and CUDA version via NVML) when there are any.
/// </summary>
public sealed record HardwareFingerprint(string CpuModel, IReadOnlyList<string> CpuFlags, int LogicalCores, string Architecture,
    IReadOnlyList<GpuFingerprint> Gpus)
{
    /// <summary>The /proc/cpuinfo flags recorded: the vector and matrix extensions ONNX Runtime's kernels dispatch on.</summary>
    public static readonly IReadOnlyList<string> TrackedCpuFlags =
    [
        "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512dq", "avx512vl",
        "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16", "asimd", "sve", "sve2",
    ];

    private static readonly Lazy<HardwareFingerprint> s_current = new(Measure);

    /// <summary>This machine's fingerprint (measured once per process).</summary>
    public static HardwareFingerprint Current() => s_current.Value;

    /// <summary>Reads the fingerprint from <paramref name="cpuInfo"/> (the text of /proc/cpuinfo) and the given GPUs.</summary>
    public static HardwareFingerprint FromCpuInfo(string cpuInfo, IReadOnlyList<GpuFingerprint> gpus)
    {
        string? model = null;
        var flags = new HashSet<string>(StringComparer.Ordinal);
        var processors = 0;
        foreach (var line in cpuInfo.Split('\n'))
        {
            var colon = line.IndexOf(':');
            if (colon < 0)
            {
                continue;
            }

            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "processor":
                    processors++;
                    break;
                case "model name" or "Model" when model is null:
                    model = value;
                    break;
                case "flags" or "Features" when flags.Count == 0:
                    flags.UnionWith(value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
                    break;
            }
        }

        return new HardwareFingerprint(
            model ?? "unknown",
            [.. TrackedCpuFlags.Where(flags.Contains)],
            processors > 0 ? processors : Environment.ProcessorCount,
            RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant(),
            gpus);
    }

    /// <summary>
    /// What differs between the machine an engine was built on (<paramref name="expected"/>) and this one
    /// (<paramref name="actual"/>): a different CPU model, ISA extensions the engine was built with that this CPU lacks, a
    /// different GPU set (count, name, compute capability) or an older driver or CUDA. Empty when compatible. Extra
    /// capabilities on this machine and core counts are not differences.
    /// </summary>
    public static IReadOnlyList<string> Compare(HardwareFingerprint expected, HardwareFingerprint actual)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        var differences = new List<string>();
        if (!string.Equals(expected.Architecture, actual.Architecture, StringComparison.Ordinal))
        {
            differences.Add($"CPU architecture: engine built for {expected.Architecture}, this machine is {actual.Architecture}.");
        }

        if (!string.Equals(expected.CpuModel, actual.CpuModel, StringComparison.Ordinal))
        {
            differences.Add($"CPU model: engine built on '{expected.CpuModel}', this machine has '{actual.CpuModel}'.");
        }

        var missing = expected.CpuFlags.Except(actual.CpuFlags, StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            differences.Add($"CPU ISA: this machine lacks {string.Join(", ", missing)}, which the engine's build machine had.");
        }

        if (expected.Gpus.Count != actual.Gpus.Count)
        {
            differences.Add($"GPUs: engine built with {Describe(expected.Gpus)}, this machine has {Describe(actual.Gpus)}.");
            return differences;
        }

        for (var i = 0; i < expected.Gpus.Count; i++)
        {
            var (want, have) = (expected.Gpus[i], actual.Gpus[i]);
            if (want.Name != have.Name)
            {
                differences.Add($"GPU {i}: engine built on '{want.Name}', this machine has '{have.Name}'.");
            }

            if (want.ComputeCapability != have.ComputeCapability)
            {
                differences.Add($"GPU {i} compute capability: engine built for {want.ComputeCapability}, this GPU is {have.ComputeCapability}.");
            }

            if (CompareVersions(have.DriverVersion, want.DriverVersion) < 0)
            {
                differences.Add($"GPU {i} driver: engine built with {want.DriverVersion}, this machine has the older {have.DriverVersion}.");
            }

            if (CompareVersions(have.CudaVersion, want.CudaVersion) < 0)
            {
                differences.Add($"GPU {i} CUDA: engine built with CUDA {want.CudaVersion}, this driver supports only {have.CudaVersion}.");
            }
        }

        return differences;
    }

    private static string Describe(IReadOnlyList<GpuFingerprint> gpus) =>
        gpus.Count == 0 ? "no GPU" : $"{gpus.Count} GPU(s) ({string.Join(", ", gpus.Select(g => g.Name).Distinct())})";

    private static int CompareVersions(string left, string right)
    {
        static int[] Parts(string v) => [.. v.Split('.').Select(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0)];
        var (a, b) = (Parts(left), Parts(right));
        for (var i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            var c = (i < a.Length ? a[i] : 0).CompareTo(i < b.Length ? b[i] : 0);
            if (c != 0)
            {
                return c;
            }
        }

        return 0;
    }

    private static HardwareFingerprint Measure()
    {
        var cpuInfo = File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : "";
        return FromCpuInfo(cpuInfo, Nvml.ReadGpus());
    }
}

/// <summary>NVIDIA's management library (libnvidia-ml.so.1), loaded only if present; no GPU means an empty list.</summary>
internal static unsafe class Nvml
{
    private const int Success = 0;

    public static IReadOnlyList<GpuFingerprint> ReadGpus()
    {
        if (!NativeLibrary.TryLoad("libnvidia-ml.so.1", out var library))
        {
            return [];
        }

        try
        {
            if (!TryGet(library, "nvmlInit_v2", out var init) || !TryGet(library, "nvmlShutdown", out var shutdown)
                || !TryGet(library, "nvmlDeviceGetCount_v2", out var getCount)
                || !TryGet(library, "nvmlDeviceGetHandleByIndex_v2", out var getHandle)
                || !TryGet(library, "nvmlDeviceGetName", out var getName)
                || !TryGet(library, "nvmlDeviceGetCudaComputeCapability", out var getCapability)
                || !TryGet(library, "nvmlSystemGetDriverVersion", out var getDriver)
                || !TryGet(library, "nvmlSystemGetCudaDriverVersion", out var getCuda))
            {
                return [];
            }

            if (((delegate* unmanaged<int>)init)() != Success)
            {
                return [];
            }

            try
            {
                var text = stackalloc byte[96];
                var driver = ((delegate* unmanaged<byte*, uint, int>)getDriver)(text, 96) == Success ? Utf8(text) : "unknown";
                int cudaNumber;
                var cuda = ((delegate* unmanaged<int*, int>)getCuda)(&cudaNumber) == Success
                    ? $"{cudaNumber / 1000}.{cudaNumber % 1000 / 10}"
                    : "unknown";
                uint count;
                if (((delegate* unmanaged<uint*, int>)getCount)(&count) != Success)
                {
                    return [];
                }

                var gpus = new List<GpuFingerprint>((int)count);
                for (uint i = 0; i < count; i++)
                {
                    IntPtr device;
                    if (((delegate* unmanaged<uint, IntPtr*, int>)getHandle)(i, &device) != Success)
                    {
                        continue;
                    }

                    var name = ((delegate* unmanaged<IntPtr, byte*, uint, int>)getName)(device, text, 96) == Success ? Utf8(text) : "unknown";
                    int major, minor;
                    var capability = ((delegate* unmanaged<IntPtr, int*, int*, int>)getCapability)(device, &major, &minor) == Success
                        ? $"{major}.{minor}"
                        : "unknown";
                    gpus.Add(new GpuFingerprint(name, capability, driver, cuda));
                }

                return gpus;
            }
            finally
            {
                ((delegate* unmanaged<int>)shutdown)();
            }
        }
        finally
        {
            NativeLibrary.Free(library);
        }
    }

    private static bool TryGet(IntPtr library, string name, out IntPtr address) => NativeLibrary.TryGetExport(library, name, out address);

    private static string Utf8(byte* text) => Marshal.PtrToStringUTF8((IntPtr)text) ?? "";
}
