using Sluice.Server.Slo;

namespace Sluice.Server.Tests.Slo;

public sealed class MachineMemoryTests
{
    [Fact]
    public void Parse_Meminfo_TotalAndAvailableInBytes()
    {
        var memory = MachineMemory.Parse("""
            MemTotal:       16000000 kB
            MemFree:         1000000 kB
            MemAvailable:    4000000 kB
            Buffers:          200000 kB
            """);

        Assert.Equal(new MachineMemory(16_000_000L * 1024, 4_000_000L * 1024), memory);
        Assert.Equal(0.75, memory!.Value.UsedFraction, 12);
    }

    [Theory]
    [InlineData("MemFree: 10 kB")]
    [InlineData("MemTotal: 0 kB\nMemAvailable: 0 kB")]
    [InlineData("MemTotal: 10 kB\nMemAvailable: 20 kB")]
    [InlineData("")]
    public void Parse_MissingOrInconsistentFields_Null(string meminfo) => Assert.Null(MachineMemory.Parse(meminfo));

    [Fact]
    public void Read_ThisMachine_PlausibleValuesOnLinuxElseNull()
    {
        var memory = MachineMemory.Read();
        if (!OperatingSystem.IsLinux())
        {
            Assert.Null(memory);   // no /proc/meminfo: no memory gauge rather than a made-up one
            return;
        }

        Assert.NotNull(memory);
        Assert.InRange(memory.Value.UsedFraction, 0, 1);
        Assert.True(Environment.WorkingSet < memory.Value.TotalBytes);
    }
}
