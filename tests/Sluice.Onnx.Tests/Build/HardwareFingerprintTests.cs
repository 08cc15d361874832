using System.Runtime.InteropServices;
using Sluice.Onnx.Build;

namespace Sluice.Onnx.Tests.Build;

public sealed class HardwareFingerprintTests
{
    private const string Epyc = """
        processor	: 0
        vendor_id	: AuthenticAMD
        model name	: AMD EPYC 9654 96-Core Processor
        flags		: fpu sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 sha_ni

        processor	: 1
        model name	: AMD EPYC 9654 96-Core Processor
        flags		: fpu sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 sha_ni
        """;

    private static readonly GpuFingerprint s_h100 = new("NVIDIA H100 80GB HBM3", "9.0", "550.54.15", "12.4");

    [Fact]
    public void FromCpuInfo_Epyc_ReadsModelTrackedFlagsAndProcessorCount()
    {
        var fingerprint = HardwareFingerprint.FromCpuInfo(Epyc, []);

        Assert.Equal("AMD EPYC 9654 96-Core Processor", fingerprint.CpuModel);
        Assert.Equal(2, fingerprint.LogicalCores);
        Assert.Contains("avx512_vnni", fingerprint.CpuFlags);
        Assert.Contains("avx2", fingerprint.CpuFlags);
        Assert.DoesNotContain("sha_ni", fingerprint.CpuFlags);   // not an ISA the kernels dispatch on
        Assert.DoesNotContain("amx_int8", fingerprint.CpuFlags);
    }

    [Fact]
    public void Compare_SameMachine_NoDifferences()
    {
        var a = HardwareFingerprint.FromCpuInfo(Epyc, [s_h100]);
        var b = HardwareFingerprint.FromCpuInfo(Epyc, [s_h100]);

        Assert.Empty(HardwareFingerprint.Compare(a, b));
    }

    [Fact]
    public void Compare_ActualLacksVnni_ReportsMissingIsa()
    {
        var built = HardwareFingerprint.FromCpuInfo(Epyc, []);
        var actual = built with { CpuFlags = [.. built.CpuFlags.Where(f => f != "avx512_vnni")] };

        var difference = Assert.Single(HardwareFingerprint.Compare(built, actual));

        Assert.Contains("lacks avx512_vnni", difference);
    }

    [Fact]
    public void Compare_ActualHasMoreIsaAndCores_IsCompatible()
    {
        var built = HardwareFingerprint.FromCpuInfo(Epyc, []);
        var actual = built with { CpuFlags = [.. built.CpuFlags, "amx_int8"], LogicalCores = 64 };

        Assert.Empty(HardwareFingerprint.Compare(built, actual));
    }

    [Fact]
    public void Compare_OtherCpuModel_ReportsBothNames()
    {
        var built = HardwareFingerprint.FromCpuInfo(Epyc, []);
        var actual = built with { CpuModel = "Intel(R) Xeon(R) Platinum 8480+" };

        var difference = Assert.Single(HardwareFingerprint.Compare(built, actual));

        Assert.Contains("AMD EPYC 9654", difference);
        Assert.Contains("Xeon", difference);
    }

    [Fact]
    public void Compare_GpuMissingOrDifferent_ReportsWhatDiffers()
    {
        var built = HardwareFingerprint.FromCpuInfo(Epyc, [s_h100]);

        Assert.Contains("no GPU", Assert.Single(HardwareFingerprint.Compare(built, built with { Gpus = [] })));

        var a100 = built with { Gpus = [new GpuFingerprint("NVIDIA A100-SXM4-80GB", "8.0", "550.54.15", "12.4")] };
        var differences = HardwareFingerprint.Compare(built, a100);
        Assert.Equal(2, differences.Count);
        Assert.Contains(differences, d => d.Contains("compute capability") && d.Contains("9.0") && d.Contains("8.0"));

        var olderDriver = built with { Gpus = [s_h100 with { DriverVersion = "535.104.05", CudaVersion = "12.2" }] };
        var driver = HardwareFingerprint.Compare(built, olderDriver);
        Assert.Contains(driver, d => d.Contains("driver") && d.Contains("535.104.05"));
        Assert.Contains(driver, d => d.Contains("CUDA 12.4"));
        Assert.Empty(HardwareFingerprint.Compare(olderDriver, built));   // a newer driver is fine
    }

    [Fact]
    public void Current_ThisMachine_ReadsProcCpuInfoAndReportsGpusOnlyWithNvml()
    {
        var current = HardwareFingerprint.Current();

        Assert.False(string.IsNullOrWhiteSpace(current.CpuModel));
        var cpuInfo = File.ReadAllText("/proc/cpuinfo");
        Assert.All(current.CpuFlags, flag => Assert.Contains($" {flag}", cpuInfo));
        if (!NativeLibrary.TryLoad("libnvidia-ml.so.1", out var nvml))
        {
            Assert.Empty(current.Gpus);   // no NVML: no GPU is invented
        }
        else
        {
            NativeLibrary.Free(nvml);
        }
    }
}
