using Sluice.Core.Configuration;
using Sluice.Core.Tensors;
using Sluice.Engine.Configuration;

namespace Sluice.Engine.Tests.Configuration;

public sealed class ModelConfigValidationTests
{
    private static readonly ModelConfigValidation Validation = new(ModelConfigValidation.Default);

    private static ModelConfig Valid() => new()
    {
        Name = "m",
        MaxBatchSize = 8,
        Inputs = [new TensorConfig("INPUT0", DataType.Fp32, [4])],
        Outputs = [new TensorConfig("OUTPUT0", DataType.Fp32, [4])],
        DynamicBatching = new DynamicBatchingConfig { PreferredBatchSizes = [4, 8] },
    };

    [Fact]
    public void Validate_ValidConfig_Passes()
    {
        Validation.Validate(Valid(), "m/config.yaml");
    }

    [Fact]
    public void Validate_ManyProblems_ReportsAllAtOnceWithActualValues()
    {
        var config = Valid() with
        {
            MaxBatchSize = 4,
            Outputs = [],
            DynamicBatching = new DynamicBatchingConfig
            {
                PreferredBatchSizes = [2, 16],
                MaxQueueDelay = TimeSpan.FromSeconds(3),
                DefaultQueuePolicy = new QueuePolicyConfig { MaxQueueSize = 0, TimeoutAction = "DELAY" },
            },
            InstanceGroups = [new InstanceGroupConfig { Count = 0 }],
            VersionPolicy = VersionPolicy.Latest(0),
            Execution = new ExecutionConfig { GraphOptimizationLevel = "max", ExecutionProvider = "tpu", IntraOpThreads = -1 },
        };

        var error = Assert.Throws<ModelConfigException>(() => Validation.Validate(config, "m/config.yaml"));

        var messages = error.Message.Split("; ");
        Assert.Contains(messages, m => m.Contains("field 'output'") && m.Contains("at least one output"));
        Assert.Contains(messages, m => m.Contains("preferred_batch_size") && m.Contains("(4), got 16"));
        Assert.Contains(messages, m => m.Contains("max_queue_delay_microseconds") && m.Contains("got 3000000"));
        Assert.Contains(messages, m => m.Contains("max_queue_size") && m.Contains("got 0"));
        Assert.Contains(messages, m => m.Contains("timeout_action") && m.Contains("'DELAY'"));
        Assert.Contains(messages, m => m.Contains("instance_group[0].count") && m.Contains("got 0"));
        Assert.Contains(messages, m => m.Contains("num_versions") && m.Contains("got 0"));
        Assert.Contains(messages, m => m.Contains("graph_optimization_level") && m.Contains("'max'"));
        Assert.Contains(messages, m => m.Contains("execution_provider") && m.Contains("'tpu'"));
        Assert.Contains(messages, m => m.Contains("intra_op_thread_count") && m.Contains("got -1"));
        Assert.All(messages, m => Assert.StartsWith("m/config.yaml: field '", m));
    }

    [Fact]
    public void Validate_BatchingWithoutBatchDimension_IsRejected()
    {
        var error = Assert.Throws<ModelConfigException>(() => Validation.Validate(Valid() with { MaxBatchSize = 0 }, "m"));

        Assert.Contains("field 'dynamic_batching': needs max_batch_size > 0", error.Message);
    }

    [Fact]
    public void Validate_DuplicateInputAndBadDims_AreRejected()
    {
        var config = Valid() with
        {
            Inputs = [new TensorConfig("x", DataType.Fp32, [-2]), new TensorConfig("x", DataType.Fp32, [4])],
        };

        var error = Assert.Throws<ModelConfigException>(() => Validation.Validate(config, "m"));

        Assert.Contains("'x' is declared more than once", error.Message);
        Assert.Contains("dims[0]': must be -1 (variable) or a size ≥ 0, got -2", error.Message);
    }

    [Fact]
    public void Validate_ModelFileNameWithSeparator_IsRejected()
    {
        var error = Assert.Throws<ModelConfigException>(() => Validation.Validate(Valid() with { DefaultModelFilename = "../x.onnx" }, "m"));

        Assert.Contains("default_model_filename", error.Message);
    }
}
