using Sluice.Core.Configuration;
using Sluice.Core.Tensors;
using Sluice.Engine.Configuration;

namespace Sluice.Engine.Tests.Configuration;

public sealed class YamlConfigReaderTests
{
    [Fact]
    public void Parse_YamlWithTritonFieldNames_MapsLikePbtxt()
    {
        const string yaml = """
            name: bert
            backend: onnxruntime
            max_batch_size: 16
            input:
              - { name: input_ids, data_type: INT64, dims: [-1] }
              - name: attention_mask
                data_type: TYPE_INT64
                dims: [-1]
            output:
              - { name: last_hidden_state, data_type: FP32, dims: [-1, 384] }
            dynamic_batching:
              preferred_batch_size: [4, 8]
              max_queue_delay_microseconds: 2000
              default_queue_policy: { max_queue_size: 64, default_timeout_microseconds: 1000000, allow_timeout_override: false }
            instance_group: [ { count: 2, kind: KIND_CPU } ]
            version_policy: { all: {} }
            execution:
              intra_op_threads: 4
              inter_op_threads: 1
              graph_optimization_level: basic
              execution_provider: cuda
              provider_options: { device_id: "0" }
            """;

        var config = ModelConfigFile.Parse(yaml, "bert", "bert/config.yaml").Config;

        Assert.Equal(16, config.MaxBatchSize);
        Assert.Equal(["input_ids", "attention_mask"], config.Inputs.Select(i => i.Name));
        Assert.All(config.Inputs, i => Assert.Equal(DataType.Int64, i.DataType));
        Assert.Equal([-1L, 384L], config.Outputs[0].Dims);
        Assert.Equal([4, 8], config.DynamicBatching!.PreferredBatchSizes);
        Assert.Equal(TimeSpan.FromMilliseconds(2), config.DynamicBatching.MaxQueueDelay);
        Assert.Equal(64, config.DynamicBatching.DefaultQueuePolicy.MaxQueueSize);
        Assert.False(config.DynamicBatching.DefaultQueuePolicy.AllowTimeoutOverride);
        Assert.Equal(2, config.InstanceGroups[0].Count);
        Assert.Equal(VersionPolicyKind.All, config.VersionPolicy.Kind);
        Assert.Equal(4, config.Execution.IntraOpThreads);
        Assert.Equal("basic", config.Execution.GraphOptimizationLevel);
        Assert.Equal("cuda", config.Execution.ExecutionProvider);
        Assert.Equal("0", config.Execution.ProviderOptions["device_id"]);
    }

    [Fact]
    public void Parse_EmptyDocument_GivesDefaults()
    {
        var parsed = ModelConfigFile.Parse("", "m", "m/config.yaml");

        Assert.False(parsed.HasMaxBatchSize);
        Assert.Null(parsed.Config.DynamicBatching);
        Assert.Equal("m", parsed.Config.Name);
    }

    [Fact]
    public void Parse_YamlSyntaxError_NamesFileLineAndColumn()
    {
        var error = Assert.Throws<ModelConfigException>(() => ModelConfigFile.Parse("input: [ { name: x }\nname: y", "m", "m/config.yaml"));

        Assert.StartsWith("m/config.yaml:", error.Message);
    }

    [Fact]
    public void Parse_BadIndentation_NamesFileLineAndColumn()
    {
        var error = Assert.Throws<ModelConfigException>(() => ModelConfigFile.Parse("name: x\n  - y: [", "m", "m/config.yaml"));

        Assert.Matches(@"^m/config\.yaml:\d+:\d+: ", error.Message);
    }

    [Fact]
    public void Parse_ScalarDocument_IsRejected()
    {
        var error = Assert.Throws<ModelConfigException>(() => ModelConfigFile.Parse("just text", "m", "m/config.yaml"));

        Assert.Contains("mapping", error.Message);
    }
}
