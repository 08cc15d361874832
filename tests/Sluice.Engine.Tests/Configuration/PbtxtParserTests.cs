using Sluice.Core.Configuration;
using Sluice.Core.Tensors;
using Sluice.Engine.Configuration;

namespace Sluice.Engine.Tests.Configuration;

public sealed class PbtxtParserTests
{
    /// <summary>A Triton-style ONNX model config, as found in Triton model repositories.</summary>
    private const string TritonConfig = """
        # A Triton ONNX model
        name: "densenet"   # trailing comment
        platform: "onnxruntime_onnx"
        max_batch_size : 8
        version_policy: { latest: { num_versions: 2 } }
        input [
          {
            name: "INPUT0"
            data_type: TYPE_FP32
            format: FORMAT_NCHW
            dims: [ 3, 224, 224 ]
          }
        ]
        input {
          name: "INPUT1"
          data_type: TYPE_INT64
          dims: -1
        }
        output [
          {
            name: "OUTPUT0"
            data_type: TYPE_FP32
            dims: [ 1000 ]
            label_filename: "labels.txt"
          }
        ]
        instance_group [
          { count: 2, kind: KIND_GPU, gpus: [ 0, 1 ] },
          { count: 1 kind: KIND_CPU }
        ]
        dynamic_batching {
          preferred_batch_size: [ 4, 8 ]
          max_queue_delay_microseconds: 100
          default_queue_policy {
            max_queue_size: 16
            default_timeout_microseconds: 250000
            allow_timeout_override: true
            timeout_action: REJECT
          }
        }
        parameters { key: "intra_op_thread_count" value: { string_value: "2" } }
        parameters { key: "inter_op_thread_count" value: { string_value: "1" } }
        optimization { graph: { level: 1 }
          execution_accelerators {
            gpu_execution_accelerator : [ { name : "tensorrt"
              parameters { key: "precision_mode" value: "FP16" } } ]
          }
        }
        model_warmup [ { name: "w" batch_size: 1 } ]
        """;

    [Fact]
    public void Parse_TritonOnnxConfig_MapsEveryField()
    {
        var parsed = ModelConfigFile.Parse(TritonConfig, "densenet", "densenet/config.pbtxt");
        var config = parsed.Config;

        Assert.True(parsed.HasMaxBatchSize);
        Assert.Equal("densenet", config.Name);
        Assert.Equal(8, config.MaxBatchSize);
        Assert.Equal(VersionPolicyKind.Latest, config.VersionPolicy.Kind);
        Assert.Equal(2, config.VersionPolicy.LatestCount);
        Assert.Equal(2, config.Inputs.Count);
        Assert.True(config.Inputs[0].SameAs(new TensorConfig("INPUT0", DataType.Fp32, [3, 224, 224])));
        Assert.True(config.Inputs[1].SameAs(new TensorConfig("INPUT1", DataType.Int64, [-1])));
        Assert.True(config.Outputs[0].SameAs(new TensorConfig("OUTPUT0", DataType.Fp32, [1000])));
        Assert.Equal(2, config.InstanceGroups.Count);
        Assert.Equal(InstanceKind.Gpu, config.InstanceGroups[0].Kind);
        Assert.Equal([0, 1], config.InstanceGroups[0].Gpus);
        Assert.Equal(2, config.InstanceGroups[0].Count);
        Assert.Equal(InstanceKind.Cpu, config.InstanceGroups[1].Kind);
        var batching = config.DynamicBatching!;
        Assert.Equal([4, 8], batching.PreferredBatchSizes);
        Assert.Equal(TimeSpan.FromMicroseconds(100), batching.MaxQueueDelay);
        Assert.Equal(16, batching.DefaultQueuePolicy.MaxQueueSize);
        Assert.Equal(TimeSpan.FromMilliseconds(250), batching.DefaultQueuePolicy.DefaultTimeout);
        Assert.Equal("REJECT", batching.DefaultQueuePolicy.TimeoutAction);
        Assert.Equal(2, config.Execution.IntraOpThreads);
        Assert.Equal(1, config.Execution.InterOpThreads);
        Assert.Equal("extended", config.Execution.GraphOptimizationLevel);
        Assert.Equal("tensorrt", config.Execution.ExecutionProvider);
        Assert.Equal("FP16", config.Execution.ProviderOptions["precision_mode"]);
    }

    [Fact]
    public void Parse_StringsWithEscapesAndAngleBlocks_AreDecoded()
    {
        var root = PbtxtParser.Parse("a: \"x\\ty\\\"z\\101\\x42\" 'c' b < c: 1 > d: [1, -2, 3.5e2, inf] e: true; f: ENUM_VALUE,");

        Assert.Equal("x\ty\"zABc", ((ConfigScalar)root.Get("a")!).Value);
        Assert.Equal("1", ((ConfigScalar)((ConfigMessage)root.Get("b")!).Get("c")!).Value);
        Assert.Equal(["1", "-2", "3.5e2", "inf"], ((ConfigList)root.Get("d")!).Items.Select(i => ((ConfigScalar)i).Value));
        Assert.Equal("true", ((ConfigScalar)root.Get("e")!).Value);
        Assert.Equal("ENUM_VALUE", ((ConfigScalar)root.Get("f")!).Value);
    }

    [Fact]
    public void Parse_RepeatedFields_KeepEveryOccurrence()
    {
        var root = PbtxtParser.Parse("dims: 1 dims: 2 dims: [3, 4]");

        Assert.Equal(["1", "2", "3", "4"], root.GetAll("dims").Select(n => ((ConfigScalar)n).Value));
    }

    public static TheoryData<string, string> SyntaxErrors => new()
    {
        { "name: \"abc", "unterminated string starting at line 1, column 7" },
        { "input {\n  name: \"x\"\n", "expected '}' to close the block opened at line 1, column 7" },
        { "max_batch_size 8", "1:16: expected ':' or '{' after field 'max_batch_size'" },
        { "dims: [1, 2", "expected ']'" },
        { "dims: [1 2]", "1:10: expected ',' or ']'" },
        { "a: \"\\q\"", "unknown escape sequence" },
        { ": 3", "1:1: expected a field name" },
        { "a {\n}\n}", "3:1: expected a field name" },
    };

    [Theory]
    [MemberData(nameof(SyntaxErrors))]
    public void Parse_SyntaxError_ThrowsWithLineAndColumn(string text, string expected)
    {
        var error = Assert.Throws<ModelConfigException>(() => PbtxtParser.Parse(text, "m/config.pbtxt"));

        Assert.StartsWith("m/config.pbtxt:", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Parse_DeepNesting_IsRejected()
    {
        var text = string.Concat(Enumerable.Repeat("a {", 100)) + string.Concat(Enumerable.Repeat("}", 100));

        var error = Assert.Throws<ModelConfigException>(() => PbtxtParser.Parse(text));

        Assert.Contains("nesting deeper", error.Message);
    }

    [Fact]
    public void Map_BadFieldValues_ReportsEveryErrorWithPosition()
    {
        const string text = """
            max_batch_size: lots
            input { name: "x" data_type: TYPE_NOPE dims: [a] }
            instance_group { kind: KIND_TPU }
            """;

        var error = Assert.Throws<ModelConfigException>(() => ModelConfigFile.Parse(text, "m", "m/config.pbtxt"));

        Assert.Contains("m/config.pbtxt:1:17: field 'max_batch_size': expected an integer, got 'lots'", error.Message);
        Assert.Contains("field 'input 'x'.data_type': unknown data type 'TYPE_NOPE'", error.Message);
        Assert.Contains("field 'input 'x'.dims': expected an integer, got 'a'", error.Message);
        Assert.Contains("field 'instance_group[0].kind': expected KIND_CPU or KIND_GPU, got 'KIND_TPU'", error.Message);
    }

    [Fact]
    public void Map_UnboundedTritonQueue_GetsTheDefaultBound()
    {
        var parsed = ModelConfigFile.Parse("max_batch_size: 4 dynamic_batching { default_queue_policy { max_queue_size: 0 } }", "m", "m/config.pbtxt");

        Assert.Equal(ModelConfigDefaults.MaxQueueSize, parsed.Config.DynamicBatching!.DefaultQueuePolicy.MaxQueueSize);
        Assert.Equal(ModelConfigDefaults.QueueTimeout, parsed.Config.DynamicBatching.DefaultQueuePolicy.DefaultTimeout);
    }

    [Theory]
    [InlineData("version_policy: { all: {} }", VersionPolicyKind.All)]
    [InlineData("version_policy: { specific: { versions: [1, 3] } }", VersionPolicyKind.Specific)]
    [InlineData("version_policy { latest { num_versions: 3 } }", VersionPolicyKind.Latest)]
    public void Map_VersionPolicy_ReadsEachForm(string text, VersionPolicyKind kind)
    {
        var policy = ModelConfigFile.Parse(text, "m", "m/config.pbtxt").Config.VersionPolicy;

        Assert.Equal(kind, policy.Kind);
        Assert.Equal([3L, 1L], policy.Select([1, 2, 3]).Where(v => v != 2 || kind != VersionPolicyKind.Specific).Take(kind == VersionPolicyKind.Latest ? 3 : 4).Where(v => v != 2));
    }
}
