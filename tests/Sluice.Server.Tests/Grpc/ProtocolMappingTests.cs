using Sluice.Core.Configuration;
using Sluice.Core.Serving;
using Sluice.Server.Grpc;
using CoreDataType = Sluice.Core.Tensors.DataType;
using Proto = Sluice.Server.Grpc.Protocol;

namespace Sluice.Server.Tests.Grpc;

public sealed class ProtocolMappingTests
{
    [Fact]
    public void ToProto_FullModelConfig_MapsEveryFieldToTritonsShape()
    {
        var config = new ModelConfig
        {
            Name = "m",
            MaxBatchSize = 16,
            Inputs = [new TensorConfig("ids", CoreDataType.Int64, [-1]), new TensorConfig("text", CoreDataType.Bytes, [1])],
            Outputs = [new TensorConfig("out", CoreDataType.Fp16, [-1, 384])],
            DynamicBatching = new DynamicBatchingConfig
            {
                PreferredBatchSizes = [4, 8],
                MaxQueueDelay = TimeSpan.FromMicroseconds(1500),
                DefaultQueuePolicy = new QueuePolicyConfig { MaxQueueSize = 32, DefaultTimeout = TimeSpan.FromSeconds(2), AllowTimeoutOverride = false },
            },
            InstanceGroups = [new InstanceGroupConfig { Count = 2, Kind = InstanceKind.Gpu, Gpus = [0, 1] }],
            VersionPolicy = VersionPolicy.Specific([1, 3]),
            Execution = new ExecutionConfig { IntraOpThreads = 4, GraphOptimizationLevel = "basic", ExecutionProvider = "tensorrt", ProviderOptions = new Dictionary<string, string> { ["trt_fp16_enable"] = "1" } },
        };

        var proto = ProtocolMapping.ToProto(config);

        Assert.Equal(("m", "onnxruntime", "onnxruntime_onnx", 16), (proto.Name, proto.Backend, proto.Platform, proto.MaxBatchSize));
        Assert.Equal(Proto.DataType.TypeInt64, proto.Input[0].DataType);
        Assert.Equal([-1L], proto.Input[0].Dims);
        Assert.Equal(Proto.DataType.TypeString, proto.Input[1].DataType);
        Assert.Equal(Proto.DataType.TypeFp16, proto.Output[0].DataType);
        Assert.Equal([-1L, 384L], proto.Output[0].Dims);
        Assert.Equal([4, 8], proto.DynamicBatching.PreferredBatchSize);
        Assert.Equal(1500UL, proto.DynamicBatching.MaxQueueDelayMicroseconds);
        Assert.Equal(32U, proto.DynamicBatching.DefaultQueuePolicy.MaxQueueSize);
        Assert.Equal(2_000_000UL, proto.DynamicBatching.DefaultQueuePolicy.DefaultTimeoutMicroseconds);
        Assert.False(proto.DynamicBatching.DefaultQueuePolicy.AllowTimeoutOverride);
        Assert.Equal(Proto.ModelQueuePolicy.Types.TimeoutAction.Reject, proto.DynamicBatching.DefaultQueuePolicy.TimeoutAction);
        var group = Assert.Single(proto.InstanceGroup);
        Assert.Equal((2, Proto.ModelInstanceGroup.Types.Kind.Gpu), (group.Count, group.Kind));
        Assert.Equal([0, 1], group.Gpus);
        Assert.Equal([1L, 3L], proto.VersionPolicy.Specific.Versions);
        Assert.Equal("4", proto.Parameters["intra_op_thread_count"].StringValue);
        Assert.Equal(-1, proto.Optimization.Graph.Level);
        var accelerator = Assert.Single(proto.Optimization.ExecutionAccelerators.GpuExecutionAccelerator);
        Assert.Equal("tensorrt", accelerator.Name);
        Assert.Equal("1", accelerator.Parameters["trt_fp16_enable"]);
    }

    [Fact]
    public void ToProto_NoBatchingLatestPolicy_SchedulingUnsetAndLatestN()
    {
        var proto = ProtocolMapping.ToProto(new ModelConfig { Name = "m", VersionPolicy = VersionPolicy.Latest(2) });

        Assert.Equal(Proto.ModelConfig.SchedulingChoiceOneofCase.None, proto.SchedulingChoiceCase);
        Assert.Equal(2U, proto.VersionPolicy.Latest.NumVersions);
        Assert.Null(proto.Optimization);
    }

    [Fact]
    public void ToProto_Statistics_CopiesCountsAndDurations()
    {
        var d = new StatisticDuration(3, 3000);
        var stats = new ModelStatistics("m", "1", 1700000000000, 5, 2,
            new InferStatistics(d, new(1, 10), d, d, d, d, default, default),
            [new BatchStatistics(4, d, new(1, 99), d)]);

        var proto = ProtocolMapping.ToProto(stats);

        Assert.Equal((1700000000000UL, 5UL, 2UL), (proto.LastInference, proto.InferenceCount, proto.ExecutionCount));
        Assert.Equal((1UL, 10UL), (proto.InferenceStats.Fail.Count, proto.InferenceStats.Fail.Ns));
        Assert.Equal((4UL, 99UL), (proto.BatchStats[0].BatchSize, proto.BatchStats[0].ComputeInfer.Ns));
    }

    /// <summary>Field numbers as Triton's published grpc_service.proto / model_config.proto define them (the wire contract).</summary>
    public static TheoryData<string, string, int> WireFields => new()
    {
        { "inference.ModelInferRequest", "model_name", 1 }, { "inference.ModelInferRequest", "model_version", 2 },
        { "inference.ModelInferRequest", "id", 3 }, { "inference.ModelInferRequest", "parameters", 4 },
        { "inference.ModelInferRequest", "inputs", 5 }, { "inference.ModelInferRequest", "outputs", 6 },
        { "inference.ModelInferRequest", "raw_input_contents", 7 },
        { "inference.ModelInferRequest.InferInputTensor", "contents", 5 },
        { "inference.ModelInferResponse", "outputs", 5 }, { "inference.ModelInferResponse", "raw_output_contents", 6 },
        { "inference.ModelStreamInferResponse", "error_message", 1 }, { "inference.ModelStreamInferResponse", "infer_response", 2 },
        { "inference.InferParameter", "string_param", 3 }, { "inference.InferParameter", "uint64_param", 5 },
        { "inference.InferTensorContents", "bool_contents", 1 }, { "inference.InferTensorContents", "uint_contents", 4 },
        { "inference.InferTensorContents", "bytes_contents", 8 },
        { "inference.InferStatistics", "compute_output", 6 }, { "inference.InferStatistics", "cache_miss", 8 },
        { "inference.ModelStatistics", "batch_stats", 7 }, { "inference.RepositoryIndexResponse.ModelIndex", "reason", 4 },
        { "inference.RepositoryModelLoadRequest", "model_name", 2 },
        { "inference.ModelConfig", "backend", 17 }, { "inference.ModelConfig", "dynamic_batching", 11 },
        { "inference.ModelConfig", "instance_group", 7 }, { "inference.ModelConfig", "parameters", 14 },
        { "inference.ModelConfig", "optimization", 12 }, { "inference.ModelInput", "dims", 4 }, { "inference.ModelOutput", "dims", 3 },
        { "inference.ModelInstanceGroup", "kind", 4 }, { "inference.ModelDynamicBatching", "default_queue_policy", 6 },
        { "inference.ModelQueuePolicy", "max_queue_size", 4 },
    };

    [Theory]
    [MemberData(nameof(WireFields))]
    public void Descriptor_Field_HasTritonsFieldNumber(string message, string field, int number)
    {
        var descriptor = Proto.GrpcServiceReflection.Descriptor.MessageTypes
            .Concat(Proto.ModelConfigReflection.Descriptor.MessageTypes)
            .SelectMany(Flatten)
            .Single(m => m.FullName == message);

        Assert.Equal(number, descriptor.FindFieldByName(field).FieldNumber);
    }

    [Fact]
    public void Descriptor_Service_IsTritonsPackageAndMethods()
    {
        var service = Assert.Single(Proto.GrpcServiceReflection.Descriptor.Services);

        Assert.Equal("inference.GRPCInferenceService", service.FullName);
        Assert.Equal(
            ["ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer", "ModelStreamInfer",
             "ModelConfig", "ModelStatistics", "RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"],
            service.Methods.Select(m => m.Name));
        Assert.True(service.FindMethodByName("ModelStreamInfer").IsClientStreaming);
        Assert.True(service.FindMethodByName("ModelStreamInfer").IsServerStreaming);
    }

    private static IEnumerable<Google.Protobuf.Reflection.MessageDescriptor> Flatten(Google.Protobuf.Reflection.MessageDescriptor message) =>
        new[] { message }.Concat(message.NestedTypes.SelectMany(Flatten));
}
