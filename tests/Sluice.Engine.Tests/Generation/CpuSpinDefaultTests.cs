using Sluice.Engine.Generation;

namespace Sluice.Engine.Tests.Generation;

public sealed class CpuSpinDefaultTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("cpu")]
    [InlineData(" CPU ")]
    public void WithCpuSpinDefault_OnCpu_BoundsTheSpin(string? provider)
    {
        var options = GenerationManager.WithCpuSpinDefault(new Dictionary<string, string> { ["other"] = "x" }, provider);

        Assert.Equal(GenerationManager.CpuSpinDurationMicroseconds, options["session.intra_op.spin_duration_us"]);
        Assert.Equal("x", options["other"]);
    }

    [Fact]
    public void WithCpuSpinDefault_OnCuda_LeavesTheOptionsAlone()
    {
        var given = new Dictionary<string, string>();

        Assert.Same(given, GenerationManager.WithCpuSpinDefault(given, "cuda"));
    }

    [Theory]
    [InlineData("session.intra_op.allow_spinning", "1")]
    [InlineData("session.intra_op.spin_duration_us", "2000")]
    public void WithCpuSpinDefault_ModelSaysHowToSpin_ItsSettingWins(string key, string value)
    {
        var given = new Dictionary<string, string> { [key] = value };

        var options = GenerationManager.WithCpuSpinDefault(given, "cpu");

        Assert.Equal(value, options[key]);
        Assert.Single(options);
    }
}
