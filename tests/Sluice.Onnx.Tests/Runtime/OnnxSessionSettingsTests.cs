using Microsoft.ML.OnnxRuntime;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Tests.Runtime;

public sealed class OnnxSessionSettingsTests
{
    [Theory]
    [InlineData("disabled", GraphOptimizationLevel.ORT_DISABLE_ALL)]
    [InlineData("basic", GraphOptimizationLevel.ORT_ENABLE_BASIC)]
    [InlineData("Extended", GraphOptimizationLevel.ORT_ENABLE_EXTENDED)]
    [InlineData("all", GraphOptimizationLevel.ORT_ENABLE_ALL)]
    [InlineData("", GraphOptimizationLevel.ORT_ENABLE_ALL)]
    public void ParseOptimizationLevel_KnownName_MapsToOrtLevel(string name, GraphOptimizationLevel expected)
    {
        Assert.Equal(expected, OnnxSessionSettings.ParseOptimizationLevel(name));
    }

    [Theory]
    [InlineData(null, OnnxExecutionProvider.Cpu)]
    [InlineData("CPU", OnnxExecutionProvider.Cpu)]
    [InlineData("cuda", OnnxExecutionProvider.Cuda)]
    [InlineData("tensorrt", OnnxExecutionProvider.TensorRt)]
    public void ParseProvider_KnownName_MapsToProvider(string? name, OnnxExecutionProvider expected)
    {
        Assert.Equal(expected, OnnxSessionSettings.ParseProvider(name));
    }

    [Fact]
    public void From_PlacementProviderAndDevice_WinOverConfig()
    {
        var settings = OnnxSessionSettings.From(
            new ExecutionConfig { ExecutionProvider = "cpu", ProviderOptions = new Dictionary<string, string> { ["device_id"] = "0" } },
            new RunnerPlacement("cuda", DeviceId: 3, InstanceIndex: 1));

        Assert.Equal(OnnxExecutionProvider.Cuda, settings.Provider);
        Assert.Equal(3, settings.DeviceId);
        Assert.Equal("cuda", settings.ProviderDisplayName);
    }

    [Fact]
    public void From_NegativeInterOpThreads_ThrowsLoadFailedNamingField()
    {
        var error = Assert.Throws<InferenceException>(() =>
            OnnxSessionSettings.From(new ExecutionConfig { InterOpThreads = -1 }, new RunnerPlacement("cpu", 0, 0)));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Contains("execution.inter_op_threads", error.Message);
    }

    [Fact]
    public void CreateSessionOptions_Cpu_AppliesThreadsAndLevel()
    {
        var settings = OnnxSessionSettings.From(
            new ExecutionConfig { IntraOpThreads = 2, InterOpThreads = 3, GraphOptimizationLevel = "basic" }, new RunnerPlacement("cpu", 0, 0));

        using var options = settings.CreateSessionOptions();

        Assert.Equal(2, options.IntraOpNumThreads);
        Assert.Equal(3, options.InterOpNumThreads);
        Assert.Equal(ExecutionMode.ORT_PARALLEL, options.ExecutionMode);
        Assert.Equal(GraphOptimizationLevel.ORT_ENABLE_BASIC, options.GraphOptimizationLevel);
    }
}
