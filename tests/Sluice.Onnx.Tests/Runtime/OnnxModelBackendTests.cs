using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Runtime;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Runtime;

public sealed class OnnxModelBackendTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly OnnxModelBackend _backend = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void NameAndPlatform_AreTritonNames()
    {
        Assert.Equal("onnxruntime", _backend.Name);
        Assert.Equal("onnxruntime_onnx", _backend.Platform);
    }

    [Fact]
    public void ReadSignature_AddOne_ReturnsFullDimsWithSymbolicBatchAsMinusOne()
    {
        var path = SampleModels.WriteAddOne(_dir.File("m.onnx"), DataType.Int32, [-1, 4, -1]);

        var signature = _backend.ReadSignature(path, new ExecutionConfig());

        var input = Assert.Single(signature.Inputs);
        Assert.True(input.SameAs(new TensorConfig("INPUT0", DataType.Int32, [-1, 4, -1])));
        var output = Assert.Single(signature.Outputs);
        Assert.True(output.SameAs(new TensorConfig("OUTPUT0", DataType.Int32, [-1, 4, -1])));
    }

    [Fact]
    public void ReadSignature_StringIdentity_MapsStringToBytes()
    {
        var path = SampleModels.WriteIdentity(_dir.File("m.onnx"), DataType.Bytes, [2]);

        var signature = _backend.ReadSignature(path, new ExecutionConfig());

        Assert.Equal(DataType.Bytes, signature.Inputs[0].DataType);
        Assert.Equal([2L], signature.Inputs[0].Dims);
    }

    [Fact]
    public void ReadSignature_CorruptFile_ThrowsLoadFailedWithoutAbsolutePath()
    {
        var path = _dir.File("model.onnx");
        File.WriteAllBytes(path, [0x08, 0xFF, 0xFF, 0x12, 0x99, 0x01, 0x02]);

        var error = Assert.Throws<InferenceException>(() => _backend.ReadSignature(path, new ExecutionConfig()));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Contains("'model.onnx'", error.Message);
        Assert.DoesNotContain(_dir.Path, error.Message);
        Assert.DoesNotContain("/tmp", error.Message);
    }

    [Fact]
    public void ReadSignature_MissingFile_ThrowsLoadFailedWithoutAbsolutePath()
    {
        var path = _dir.File("absent/model.onnx");

        var error = Assert.Throws<InferenceException>(() => _backend.ReadSignature(path, new ExecutionConfig()));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Contains("does not exist", error.Message);
        Assert.DoesNotContain(_dir.Path, error.Message);
    }

    [Fact]
    public void CreateRunner_CorruptFile_ThrowsLoadFailedWithoutAbsolutePath()
    {
        var path = _dir.File("model.onnx");
        File.WriteAllText(path, "this is not an onnx model");

        var error = Assert.Throws<InferenceException>(() => Runners.Create(path));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.DoesNotContain(_dir.Path, error.Message);
    }

    [Fact]
    public void CreateRunner_GraphWithUnknownOperator_ThrowsLoadFailed()
    {
        var path = new OnnxGraphBuilder("bad")
            .Input("INPUT0", DataType.Fp32, [1])
            .Node("NoSuchOperator", ["INPUT0"], ["OUTPUT0"])
            .Output("OUTPUT0", DataType.Fp32, [1])
            .Save(_dir.File("model.onnx"));

        var error = Assert.Throws<InferenceException>(() => Runners.Create(path));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Contains("NoSuchOperator", error.Message);
        Assert.DoesNotContain(_dir.Path, error.Message);
    }

    [CpuOnlyBuildFact]
    public void CreateRunner_CudaOnCpuOnlyBuild_ThrowsLoadFailedNamingCudaAndBuildSwitch()
    {
        var path = SampleModels.WriteAddOne(_dir.File("m.onnx"));

        var error = Assert.Throws<InferenceException>(() => Runners.Create(path, provider: "cuda"));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Equal(
            "CUDA execution provider is not available in this build of ONNX Runtime (CPU-only package); build with -p:SluiceGpu=true on a machine with CUDA 13 / cuDNN 9.",
            error.Message);
    }

    [CpuOnlyBuildFact]
    public void CreateRunner_TensorRtOnCpuOnlyBuild_ThrowsLoadFailedNamingTensorRt()
    {
        var path = SampleModels.WriteAddOne(_dir.File("m.onnx"));

        var error = Assert.Throws<InferenceException>(() => Runners.Create(path, provider: "tensorrt"));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.StartsWith("TensorRT execution provider is not available", error.Message);
        Assert.Contains("-p:SluiceGpu=true", error.Message);
    }

    [CpuOnlyBuildFact]
    public void CreateRunner_ProviderFromConfigWhenPlacementEmpty_UsesConfig()
    {
        var path = SampleModels.WriteAddOne(_dir.File("m.onnx"));

        var error = Assert.Throws<InferenceException>(() => _backend.CreateRunner(
            new ModelConfig { Name = "m", Execution = new ExecutionConfig { ExecutionProvider = "cuda" } }, path, new RunnerPlacement("", 0, 0)));

        Assert.Contains("CUDA", error.Message);
    }

    [Theory]
    [InlineData("fastest")]
    [InlineData("99")]
    public void CreateRunner_InvalidGraphOptimizationLevel_ThrowsLoadFailedNamingFieldAndChoices(string level)
    {
        var path = SampleModels.WriteAddOne(_dir.File("m.onnx"));

        var error = Assert.Throws<InferenceException>(() => Runners.Create(path, new ExecutionConfig { GraphOptimizationLevel = level }));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Equal($"execution.graph_optimization_level '{level}' is not one of disabled, basic, extended, all.", error.Message);
    }

    [Fact]
    public void CreateRunner_UnknownProvider_ThrowsLoadFailedNamingChoices()
    {
        var path = SampleModels.WriteAddOne(_dir.File("m.onnx"));

        var error = Assert.Throws<InferenceException>(() => Runners.Create(path, provider: "rocm"));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Contains("'rocm' is not one of cpu, cuda, tensorrt", error.Message);
    }

    [Fact]
    public void CreateRunner_NegativeThreads_ThrowsLoadFailedNamingField()
    {
        var path = SampleModels.WriteAddOne(_dir.File("m.onnx"));

        var error = Assert.Throws<InferenceException>(() => Runners.Create(path, new ExecutionConfig { IntraOpThreads = -2 }));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Contains("execution.intra_op_threads", error.Message);
    }

    [Theory]
    [InlineData("disabled", 1, 1)]
    [InlineData("basic", 2, 0)]
    [InlineData("extended", 0, 2)]
    [InlineData("ALL", 0, 0)]
    public async Task CreateRunner_EachOptimizationLevelAndThreadSetting_RunsCorrectly(string level, int intra, int inter)
    {
        var path = SampleModels.WriteMatMul(_dir.File("m.onnx"), 8, 3, seed: 4);
        using var runner = Runners.Create(path, new ExecutionConfig { GraphOptimizationLevel = level, IntraOpThreads = intra, InterOpThreads = inter });
        var x = SampleModels.DeterministicValues(8, 8, 1f);
        var expected = BareOnnx.RunFloat(path, ("INPUT0", x, [1, 8]))["OUTPUT0"].Values;

        var result = await runner.RunAsync([TensorData.From<float>("INPUT0", [1, 8], x)], "OUTPUT0");

        Graph.SampleModelsTests.AssertClose(expected, result.Outputs[0].ToArray<float>(), 1e-6f);
    }
}
