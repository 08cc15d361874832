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

public sealed class OnnxSessionSettingsDeviceBindingTests
{
    private static OnnxSessionSettings From(string provider, Dictionary<string, string> options) =>
        OnnxSessionSettings.From(new ExecutionConfig { ProviderOptions = options }, new RunnerPlacement(provider, 0, 0));

    [Fact]
    public void From_Cuda_UsesIoBindingByDefault()
    {
        var settings = From("cuda", []);

        Assert.True(settings.UseIoBinding);
        Assert.False(settings.CudaGraph);
    }

    [Fact]
    public void From_Cpu_UsesIoBindingOnlyWhenAsked()
    {
        Assert.False(From("cpu", []).UseIoBinding);
        Assert.True(From("cpu", new() { [OnnxSessionSettings.IoBindingOption] = "1" }).UseIoBinding);
    }

    [Fact]
    public void From_SluiceOptions_NeverReachOnnxRuntime()
    {
        var settings = From("cuda", new()
        {
            [OnnxSessionSettings.IoBindingOption] = "1",
            [OnnxSessionSettings.MaxShapeBucketsOption] = "4",
            [OnnxSessionSettings.CudaGraphOption] = "1",
            ["arena_extend_strategy"] = "kSameAsRequested",
        });

        Assert.Equal(["arena_extend_strategy", OnnxSessionSettings.CudaGraphOption], settings.ProviderOptions.Keys.Order(StringComparer.Ordinal));
        Assert.True(settings.CudaGraph);
        Assert.Equal(4, settings.MaxShapeBuckets);
    }

    [Fact]
    public void From_CudaGraphWithoutIoBinding_ThrowsLoadFailedNamingBothOptions()
    {
        var error = Assert.Throws<InferenceException>(() => From("cuda", new()
        {
            [OnnxSessionSettings.IoBindingOption] = "0",
            [OnnxSessionSettings.CudaGraphOption] = "1",
        }));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Contains("enable_cuda_graph", error.Message);
        Assert.Contains("sluice_io_binding", error.Message);
    }

    [Theory]
    [InlineData("sluice_io_binding", "yes")]
    [InlineData("sluice_max_shape_buckets", "0")]
    [InlineData("sluice_max_shape_buckets", "many")]
    [InlineData("sluice_free_dimensions", "batch")]
    [InlineData("sluice_free_dimensions", "batch=-1")]
    public void From_BadSluiceOption_ThrowsLoadFailedNamingField(string key, string value)
    {
        var error = Assert.Throws<InferenceException>(() => From("cpu", new() { [key] = value }));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Contains("execution.provider_options." + key, error.Message);
    }

    [Fact]
    public void From_FreeDimensions_ParsedInOrder()
    {
        var settings = From("cpu", new() { [OnnxSessionSettings.FreeDimensionsOption] = "batch=32, seq=128" });

        Assert.Equal([new("batch", 32L), new("seq", 128L)], settings.FreeDimensions);
    }
}
