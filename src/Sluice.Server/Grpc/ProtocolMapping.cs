using Sluice.Core.Configuration;
using Sluice.Core.Serving;
using CoreDataType = Sluice.Core.Tensors.DataType;
using Proto = Sluice.Server.Grpc.Protocol;

namespace Sluice.Server.Grpc;

/// <summary>Maps our model configuration, metadata, index and statistics records to their gRPC messages.</summary>
internal static class ProtocolMapping
{
    /// <summary>Triton's platform name for ONNX models.</summary>
    public const string OnnxPlatform = "onnxruntime_onnx";

    public static Proto.ModelConfig ToProto(ModelConfig config)
    {
        var message = new Proto.ModelConfig
        {
            Name = config.Name,
            Platform = config.Backend == "onnxruntime" ? OnnxPlatform : "",
            Backend = config.Backend,
            MaxBatchSize = config.MaxBatchSize,
            VersionPolicy = ToProto(config.VersionPolicy),
            DefaultModelFilename = config.DefaultModelFilename,
        };

        foreach (var input in config.Inputs)
        {
            var proto = new Proto.ModelInput { Name = input.Name, DataType = ToProto(input.DataType) };
            proto.Dims.Add(input.Dims);
            message.Input.Add(proto);
        }

        foreach (var output in config.Outputs)
        {
            var proto = new Proto.ModelOutput { Name = output.Name, DataType = ToProto(output.DataType) };
            proto.Dims.Add(output.Dims);
            message.Output.Add(proto);
        }

        if (config.DynamicBatching is { } batching)
        {
            var policy = batching.DefaultQueuePolicy;
            var proto = new Proto.ModelDynamicBatching
            {
                MaxQueueDelayMicroseconds = ToMicroseconds(batching.MaxQueueDelay),
                DefaultQueuePolicy = new Proto.ModelQueuePolicy
                {
                    MaxQueueSize = (uint)Math.Max(0, policy.MaxQueueSize),
                    DefaultTimeoutMicroseconds = ToMicroseconds(policy.DefaultTimeout),
                    AllowTimeoutOverride = policy.AllowTimeoutOverride,
                    TimeoutAction = policy.TimeoutAction == "DELAY"
                        ? Proto.ModelQueuePolicy.Types.TimeoutAction.Delay
                        : Proto.ModelQueuePolicy.Types.TimeoutAction.Reject,
                },
            };
            proto.PreferredBatchSize.Add(batching.PreferredBatchSizes);
            message.DynamicBatching = proto;
        }

        foreach (var group in config.InstanceGroups)
        {
            var proto = new Proto.ModelInstanceGroup
            {
                Count = group.Count,
                Kind = group.Kind == InstanceKind.Gpu ? Proto.ModelInstanceGroup.Types.Kind.Gpu : Proto.ModelInstanceGroup.Types.Kind.Cpu,
            };
            proto.Gpus.Add(group.Gpus);
            message.InstanceGroup.Add(proto);
        }

        foreach (var sample in config.ModelWarmup)
        {
            var proto = new Proto.ModelWarmup { Name = sample.Name, BatchSize = (uint)sample.BatchSize, Count = (uint)sample.Count };
            foreach (var input in sample.Inputs)
            {
                var data = new Proto.ModelWarmup.Types.Input { DataType = ToProto(input.DataType) };
                data.Dims.Add(input.Dims);
                if (input.RandomData)
                {
                    data.RandomData = true;
                }
                else
                {
                    data.ZeroData = true;
                }

                proto.Inputs[input.Name] = data;
            }

            message.ModelWarmup.Add(proto);
        }

        AddExecution(message, config.Execution);
        return message;
    }

    /// <summary>
    /// Execution settings in the places Triton's ONNX Runtime backend reads them: thread counts as parameters, the graph level in
    /// <c>optimization.graph</c>, TensorRT as a GPU execution accelerator.
    /// </summary>
    private static void AddExecution(Proto.ModelConfig message, ExecutionConfig execution)
    {
        if (execution.IntraOpThreads > 0)
        {
            message.Parameters["intra_op_thread_count"] = new Proto.ModelParameter { StringValue = execution.IntraOpThreads.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        }

        if (execution.InterOpThreads > 0)
        {
            message.Parameters["inter_op_thread_count"] = new Proto.ModelParameter { StringValue = execution.InterOpThreads.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        }

        var level = execution.GraphOptimizationLevel;
        if (level != "all")
        {
            message.Parameters["graph_optimization_level"] = new Proto.ModelParameter { StringValue = level };
        }

        Proto.ModelOptimizationPolicy? optimization = null;
        if (level is "basic" or "extended")
        {
            optimization = new Proto.ModelOptimizationPolicy
            {
                Graph = new Proto.ModelOptimizationPolicy.Types.Graph { Level = level == "basic" ? -1 : 1 },
            };
        }

        if (execution.ExecutionProvider is { Length: > 0 } provider)
        {
            message.Parameters["execution_provider"] = new Proto.ModelParameter { StringValue = provider };
            if (provider == "tensorrt")
            {
                optimization ??= new Proto.ModelOptimizationPolicy();
                var accelerator = new Proto.ModelOptimizationPolicy.Types.ExecutionAccelerators.Types.Accelerator { Name = "tensorrt" };
                foreach (var (key, value) in execution.ProviderOptions)
                {
                    accelerator.Parameters[key] = value;
                }

                optimization.ExecutionAccelerators = new Proto.ModelOptimizationPolicy.Types.ExecutionAccelerators();
                optimization.ExecutionAccelerators.GpuExecutionAccelerator.Add(accelerator);
            }
        }

        if (optimization is not null)
        {
            message.Optimization = optimization;
        }
    }

    private static Proto.ModelVersionPolicy ToProto(VersionPolicy policy) => policy.Kind switch
    {
        VersionPolicyKind.All => new Proto.ModelVersionPolicy { All = new Proto.ModelVersionPolicy.Types.All() },
        VersionPolicyKind.Specific => new Proto.ModelVersionPolicy
        {
            Specific = new Proto.ModelVersionPolicy.Types.Specific { Versions = { policy.Versions } },
        },
        _ => new Proto.ModelVersionPolicy
        {
            Latest = new Proto.ModelVersionPolicy.Types.Latest { NumVersions = (uint)Math.Max(0, policy.LatestCount) },
        },
    };

    /// <summary>Our data type as Triton's model-config enum (<c>TYPE_STRING</c> for BYTES).</summary>
    public static Proto.DataType ToProto(CoreDataType type) => type switch
    {
        CoreDataType.Bool => Proto.DataType.TypeBool,
        CoreDataType.UInt8 => Proto.DataType.TypeUint8,
        CoreDataType.UInt16 => Proto.DataType.TypeUint16,
        CoreDataType.UInt32 => Proto.DataType.TypeUint32,
        CoreDataType.UInt64 => Proto.DataType.TypeUint64,
        CoreDataType.Int8 => Proto.DataType.TypeInt8,
        CoreDataType.Int16 => Proto.DataType.TypeInt16,
        CoreDataType.Int32 => Proto.DataType.TypeInt32,
        CoreDataType.Int64 => Proto.DataType.TypeInt64,
        CoreDataType.Fp16 => Proto.DataType.TypeFp16,
        CoreDataType.Fp32 => Proto.DataType.TypeFp32,
        CoreDataType.Fp64 => Proto.DataType.TypeFp64,
        CoreDataType.Bf16 => Proto.DataType.TypeBf16,
        CoreDataType.Bytes => Proto.DataType.TypeString,
        _ => Proto.DataType.TypeInvalid,
    };

    public static Proto.ModelMetadataResponse ToProto(ModelMetadata metadata)
    {
        var message = new Proto.ModelMetadataResponse { Name = metadata.Name, Platform = metadata.Platform };
        message.Versions.Add(metadata.Versions);
        message.Inputs.Add(metadata.Inputs.Select(ToProto));
        message.Outputs.Add(metadata.Outputs.Select(ToProto));
        return message;
    }

    private static Proto.ModelMetadataResponse.Types.TensorMetadata ToProto(TensorMetadata tensor)
    {
        var message = new Proto.ModelMetadataResponse.Types.TensorMetadata { Name = tensor.Name, Datatype = tensor.Datatype };
        message.Shape.Add(tensor.Shape);
        return message;
    }

    public static Proto.RepositoryIndexResponse.Types.ModelIndex ToProto(RepositoryIndexEntry entry) => new()
    {
        Name = entry.Name,
        Version = entry.Version,
        State = entry.State,
        Reason = entry.Reason,
    };

    public static Proto.ModelStatistics ToProto(ModelStatistics statistics)
    {
        var stats = statistics.InferenceStats;
        var message = new Proto.ModelStatistics
        {
            Name = statistics.Name,
            Version = statistics.Version,
            LastInference = ToUnsigned(statistics.LastInference),
            InferenceCount = ToUnsigned(statistics.InferenceCount),
            ExecutionCount = ToUnsigned(statistics.ExecutionCount),
            InferenceStats = new Proto.InferStatistics
            {
                Success = ToProto(stats.Success),
                Fail = ToProto(stats.Fail),
                Queue = ToProto(stats.Queue),
                ComputeInput = ToProto(stats.ComputeInput),
                ComputeInfer = ToProto(stats.ComputeInfer),
                ComputeOutput = ToProto(stats.ComputeOutput),
                CacheHit = ToProto(stats.CacheHit),
                CacheMiss = ToProto(stats.CacheMiss),
            },
        };

        foreach (var batch in statistics.BatchStats)
        {
            message.BatchStats.Add(new Proto.InferBatchStatistics
            {
                BatchSize = ToUnsigned(batch.BatchSize),
                ComputeInput = ToProto(batch.ComputeInput),
                ComputeInfer = ToProto(batch.ComputeInfer),
                ComputeOutput = ToProto(batch.ComputeOutput),
            });
        }

        return message;
    }

    private static Proto.StatisticDuration ToProto(StatisticDuration duration) =>
        new() { Count = ToUnsigned(duration.Count), Ns = ToUnsigned(duration.Ns) };

    private static ulong ToUnsigned(long value) => value < 0 ? 0 : (ulong)value;

    private static ulong ToMicroseconds(TimeSpan span) => span <= TimeSpan.Zero ? 0 : (ulong)(span.Ticks / TimeSpan.TicksPerMicrosecond);
}
