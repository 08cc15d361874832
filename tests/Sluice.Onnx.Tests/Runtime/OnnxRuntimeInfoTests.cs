using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Tests.Runtime;

public sealed class OnnxRuntimeInfoTests
{
    [Fact]
    public void Version_IsDottedNumber()
    {
        Assert.Matches(@"^\d+\.\d+\.\d+", OnnxRuntimeInfo.Version);
    }

    [Fact]
    public void AvailableProviders_IncludeCpu()
    {
        Assert.Contains("CPUExecutionProvider", OnnxRuntimeInfo.AvailableProviders);
    }

    [Fact]
    public void Describe_NamesVersionPackageAndProviders()
    {
        var text = OnnxRuntimeInfo.Describe();

        Assert.Contains(OnnxRuntimeInfo.Version, text);
        Assert.Contains(OnnxRuntimeInfo.IsGpuBuild ? "GPU package" : "CPU package", text);
        Assert.Contains("CPUExecutionProvider", text);
    }
}
