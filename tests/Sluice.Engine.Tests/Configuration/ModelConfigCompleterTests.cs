using Sluice.Core.Configuration;
using Sluice.Core.Tensors;
using Sluice.Engine.Configuration;
using Sluice.Engine.Tests.TestSupport;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Runtime;

namespace Sluice.Engine.Tests.Configuration;

public sealed class ModelConfigCompleterTests
{
    private static Sluice.Core.Runtime.ModelSignature Signature(Func<string, string> write)
    {
        using var temp = new TempDirectory();
        var path = write(Path.Combine(temp.Path, "model.onnx"));
        return new OnnxModelBackend().ReadSignature(path, new ExecutionConfig());
    }

    [Fact]
    public void Complete_NoConfigAndDynamicBatchDims_EnablesBatchingWithDefaults()
    {
        var signature = Signature(SampleModels.WriteAddSub);

        var config = ModelConfigCompleter.Complete(null, "add_sub", signature, "add_sub");

        Assert.Equal(ModelConfigDefaults.AutoCompleteMaxBatchSize, config.MaxBatchSize);
        Assert.NotNull(config.DynamicBatching);
        Assert.Equal(ModelConfigDefaults.MaxQueueSize, config.DynamicBatching!.DefaultQueuePolicy.MaxQueueSize);
        Assert.Equal(["INPUT0", "INPUT1"], config.Inputs.Select(i => i.Name));
        Assert.True(config.Inputs[0].SameAs(new TensorConfig("INPUT0", DataType.Fp32, [16])));
        Assert.Equal(["OUTPUT0", "OUTPUT1"], config.Outputs.Select(o => o.Name));
    }

    [Fact]
    public void Complete_NoConfigAndFixedFirstDim_DisablesBatching()
    {
        var signature = Signature(SampleModels.WriteNoBatch);

        var config = ModelConfigCompleter.Complete(null, "nobatch", signature, "nobatch");

        Assert.Equal(0, config.MaxBatchSize);
        Assert.Null(config.DynamicBatching);
        Assert.Equal([3L], config.Inputs[0].Dims);
    }

    [Fact]
    public void Complete_ConfigWithInputsOnly_TakesOutputsFromTheModel()
    {
        var signature = Signature(SampleModels.WriteAddSub);
        var parsed = ModelConfigFile.Parse("max_batch_size: 4\ninput: [ { name: INPUT0, data_type: FP32, dims: [16] } ]", "m", "m/config.yaml");

        var config = ModelConfigCompleter.Complete(parsed, "m", signature, "m/config.yaml");

        Assert.Equal(4, config.MaxBatchSize);
        Assert.Null(config.DynamicBatching);
        Assert.Equal(["INPUT0", "INPUT1"], config.Inputs.Select(i => i.Name));
        Assert.Equal(["OUTPUT0", "OUTPUT1"], config.Outputs.Select(o => o.Name));
    }

    [Fact]
    public void Complete_ConfigContradictsModel_ReportsEveryFieldAtOnce()
    {
        var signature = Signature(SampleModels.WriteAddSub);
        const string yaml = """
            max_batch_size: 4
            input:
              - { name: INPUT0, data_type: INT64, dims: [16] }
              - { name: INPUT1, data_type: FP32, dims: [16, 2] }
              - { name: NOPE, data_type: FP32, dims: [16] }
            output:
              - { name: OUTPUT0, data_type: FP32, dims: [8] }
            """;
        var parsed = ModelConfigFile.Parse(yaml, "m", "m/config.yaml");

        var error = Assert.Throws<ModelConfigException>(() => ModelConfigCompleter.Complete(parsed, "m", signature, "m/config.yaml"));

        Assert.Contains("field 'input 'INPUT0'.data_type': config says INT64, the model declares FP32", error.Message);
        Assert.Contains("field 'input 'INPUT1'.dims'", error.Message);
        Assert.Contains("the model has rank 2", error.Message);
        Assert.Contains("'NOPE' is not an input of the model", error.Message);
        Assert.Contains("field 'output 'OUTPUT0'.dims[0]': config says 8, the model declares 16", error.Message);
    }

    [Fact]
    public void Complete_BatchingConfiguredOnFixedFirstDim_NamesMaxBatchSize()
    {
        var signature = Signature(SampleModels.WriteNoBatch);
        var parsed = ModelConfigFile.Parse("max_batch_size: 8", "m", "m/config.yaml");

        var error = Assert.Throws<ModelConfigException>(() => ModelConfigCompleter.Complete(parsed, "m", signature, "m/config.yaml"));

        Assert.Contains("field 'max_batch_size'", error.Message);
    }
}
