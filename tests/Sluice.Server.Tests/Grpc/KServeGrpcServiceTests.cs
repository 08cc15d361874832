using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Core.Tensors;
using Sluice.Engine.Repository;
using Sluice.Server.Grpc.Protocol;
using static Sluice.Server.Tests.Grpc.ModelInferRequestDecoderTests;
using DataType = Sluice.Core.Tensors.DataType;

namespace Sluice.Server.Tests.Grpc;

/// <summary>Every RPC of <c>inference.GRPCInferenceService</c> against the real engine, real ONNX Runtime and a real client.</summary>
[Collection(GrpcServerCollection.Name)]
public sealed class KServeGrpcServiceTests(GrpcServerFixture server)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private GRPCInferenceService.GRPCInferenceServiceClient Client => server.Client;

    [Fact]
    public async Task ServerLiveReadyMetadata_RunningServer_LiveReadyAndNamed()
    {
        var live = await Client.ServerLiveAsync(new ServerLiveRequest()).ResponseAsync.WaitAsync(Timeout);
        var ready = await Client.ServerReadyAsync(new ServerReadyRequest()).ResponseAsync.WaitAsync(Timeout);
        var metadata = await Client.ServerMetadataAsync(new ServerMetadataRequest()).ResponseAsync.WaitAsync(Timeout);

        Assert.True(live.Live);
        Assert.True(ready.Ready);
        Assert.Equal("sluice", metadata.Name);
        Assert.NotEmpty(metadata.Version);
        Assert.Contains("model_repository", metadata.Extensions);
    }

    [Fact]
    public async Task ModelReady_LoadedAndUnknownModels_TrueAndFalse()
    {
        var loaded = await Client.ModelReadyAsync(new ModelReadyRequest { Name = "add_one" }).ResponseAsync.WaitAsync(Timeout);
        var versioned = await Client.ModelReadyAsync(new ModelReadyRequest { Name = "add_one", Version = "1" }).ResponseAsync.WaitAsync(Timeout);
        var unknown = await Client.ModelReadyAsync(new ModelReadyRequest { Name = "no_such_model" }).ResponseAsync.WaitAsync(Timeout);

        Assert.True(loaded.Ready);
        Assert.True(versioned.Ready);
        Assert.False(unknown.Ready);
    }

    [Fact]
    public async Task ModelMetadata_AddOne_DescribesInputsAndOutputsWithBatchDimension()
    {
        var metadata = await Client.ModelMetadataAsync(new ModelMetadataRequest { Name = "add_one" }).ResponseAsync.WaitAsync(Timeout);

        Assert.Equal("add_one", metadata.Name);
        Assert.Contains("1", metadata.Versions);
        var input = Assert.Single(metadata.Inputs);
        Assert.Equal(("INPUT0", "FP32"), (input.Name, input.Datatype));
        Assert.Equal([-1L, 4L], input.Shape);
        var output = Assert.Single(metadata.Outputs);
        Assert.Equal(("OUTPUT0", "FP32"), (output.Name, output.Datatype));
    }

    [Fact]
    public async Task ModelConfig_AddOne_TritonFieldsFilled()
    {
        var response = await Client.ModelConfigAsync(new ModelConfigRequest { Name = "add_one" }).ResponseAsync.WaitAsync(Timeout);
        var config = response.Config;

        Assert.Equal("add_one", config.Name);
        Assert.Equal("onnxruntime", config.Backend);
        Assert.Equal("onnxruntime_onnx", config.Platform);
        Assert.True(config.MaxBatchSize > 0);
        var input = Assert.Single(config.Input);
        Assert.Equal(("INPUT0", Sluice.Server.Grpc.Protocol.DataType.TypeFp32), (input.Name, input.DataType));
        Assert.Equal([4L], input.Dims);
        Assert.Equal(Sluice.Server.Grpc.Protocol.ModelConfig.SchedulingChoiceOneofCase.DynamicBatching, config.SchedulingChoiceCase);
        Assert.True(config.DynamicBatching.DefaultQueuePolicy.MaxQueueSize > 0);
        Assert.NotEmpty(config.InstanceGroup);
        Assert.Equal("model.onnx", config.DefaultModelFilename);
    }

    [Fact]
    public async Task ModelConfig_TritonPbtxtWithWarmup_WarmupSamplesInTritonsFields()
    {
        var response = await Client.ModelConfigAsync(new ModelConfigRequest { Name = "simple" }).ResponseAsync.WaitAsync(Timeout);

        var warmup = Assert.Single(response.Config.ModelWarmup);
        Assert.Equal(("zeros and noise", 2u, 1u), (warmup.Name, warmup.BatchSize, warmup.Count));
        Assert.Equal(["INPUT0", "INPUT1"], warmup.Inputs.Keys.Order(StringComparer.Ordinal));
        var zeros = warmup.Inputs["INPUT0"];
        Assert.Equal(Sluice.Server.Grpc.Protocol.DataType.TypeFp32, zeros.DataType);
        Assert.Equal([16L], zeros.Dims);
        Assert.Equal(Sluice.Server.Grpc.Protocol.ModelWarmup.Types.Input.InputDataTypeOneofCase.ZeroData, zeros.InputDataTypeCase);
        Assert.Equal(Sluice.Server.Grpc.Protocol.ModelWarmup.Types.Input.InputDataTypeOneofCase.RandomData, warmup.Inputs["INPUT1"].InputDataTypeCase);

        // Field 16, as in Triton's model_config.proto: a client built from Triton's proto reads it there.
        var bytes = response.Config.ToByteArray();
        var reader = new Google.Protobuf.CodedInputStream(bytes);
        var found = false;
        for (uint tag; (tag = reader.ReadTag()) != 0;)
        {
            found |= Google.Protobuf.WireFormat.GetTagFieldNumber(tag) == 16;
            reader.SkipLastField();
        }

        Assert.True(found, "model_warmup is not field 16 of ModelConfig");
    }

    [Fact]
    public async Task ModelConfig_UnknownModel_NotFound()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Client.ModelConfigAsync(new ModelConfigRequest { Name = "no_such_model" }).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Contains("no_such_model", error.Status.Detail);
    }

    [Fact]
    public async Task ModelInfer_AddOneRaw_ReturnsInputPlusOneAsRawOutput()
    {
        float[] values = [1f, -2f, 0.5f, 100f, 3f, 4f, 5f, 6f];
        var request = Request("add_one", Input("INPUT0", "FP32", [2, 4]));
        request.Id = "req-1";
        request.RawInputContents.Add(ByteString.CopyFrom(LittleEndian(values)));

        var response = await Client.ModelInferAsync(request).ResponseAsync.WaitAsync(Timeout);

        Assert.Equal(("add_one", "1", "req-1"), (response.ModelName, response.ModelVersion, response.Id));
        var output = Assert.Single(response.Outputs);
        Assert.Equal(("OUTPUT0", "FP32"), (output.Name, output.Datatype));
        Assert.Equal([2L, 4L], output.Shape);
        Assert.Equal(values.Select(v => v + 1f).ToArray(), Floats(Assert.Single(response.RawOutputContents)));
    }

    [Fact]
    public async Task ModelInfer_RequestedOutputSubset_ReturnsOnlyThatOutput()
    {
        var a = Enumerable.Range(0, 16).Select(i => (float)i).ToArray();
        var b = Enumerable.Range(0, 16).Select(i => 0.5f * i).ToArray();
        var request = Request("add_sub", Input("INPUT0", "FP32", [1, 16]), Input("INPUT1", "FP32", [1, 16]));
        request.RawInputContents.Add(ByteString.CopyFrom(LittleEndian(a)));
        request.RawInputContents.Add(ByteString.CopyFrom(LittleEndian(b)));
        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "OUTPUT1" });

        var response = await Client.ModelInferAsync(request).ResponseAsync.WaitAsync(Timeout);

        Assert.Equal("OUTPUT1", Assert.Single(response.Outputs).Name);
        Assert.Equal(a.Zip(b, (x, y) => x - y).ToArray(), Floats(Assert.Single(response.RawOutputContents)));
    }

    public static TheoryData<string> TypedIdentityModels => new(
        GrpcServerFixture.IdentityModels.Where(m => m.Type != DataType.Fp16).Select(m => m.Name));

    [Theory]
    [MemberData(nameof(TypedIdentityModels))]
    public async Task ModelInfer_RawAndTypedContents_GiveIdenticalOutputs(string model)
    {
        var type = GrpcServerFixture.IdentityModels.Single(m => m.Name == model).Type;
        var (typed, raw) = GrpcTensors.ThreeValues(type);
        var typedRequest = Request(model, Input("INPUT0", type.ToKServeName(), [1, 3]));
        typedRequest.Inputs[0].Contents = typed;
        var rawRequest = Request(model, Input("INPUT0", type.ToKServeName(), [1, 3]));
        rawRequest.RawInputContents.Add(ByteString.CopyFrom(raw));

        var fromTyped = await Client.ModelInferAsync(typedRequest).ResponseAsync.WaitAsync(Timeout);
        var fromRaw = await Client.ModelInferAsync(rawRequest).ResponseAsync.WaitAsync(Timeout);

        Assert.Equal(type.ToKServeName(), Assert.Single(fromTyped.Outputs).Datatype);
        Assert.Equal([1L, 3L], fromTyped.Outputs[0].Shape);
        Assert.Equal(raw, Assert.Single(fromTyped.RawOutputContents).ToByteArray());   // identity: output bytes = hand-written input bytes
        Assert.Equal(raw, Assert.Single(fromRaw.RawOutputContents).ToByteArray());
    }

    [Fact]
    public async Task ModelInfer_Fp16Raw_RoundTrips()
    {
        var (_, raw) = GrpcTensors.ThreeValues(DataType.Fp16);
        var request = Request("identity_fp16", Input("INPUT0", "FP16", [1, 3]));
        request.RawInputContents.Add(ByteString.CopyFrom(raw));

        var response = await Client.ModelInferAsync(request).ResponseAsync.WaitAsync(Timeout);

        Assert.Equal("FP16", response.Outputs[0].Datatype);
        Assert.Equal(raw, response.RawOutputContents[0].ToByteArray());
    }

    [Fact]
    public async Task ModelInfer_MiniLm_EqualsInProcessInferenceService()
    {
        long[] ids = [101, 7592, 1010, 2088, 999, 2023, 2003, 102];
        long[] shape = [1, ids.Length];
        var mask = Enumerable.Repeat(1L, ids.Length).ToArray();
        var types = new long[ids.Length];
        var request = Request(DemoRepository.ModelName,
            Input("input_ids", "INT64", shape), Input("attention_mask", "INT64", shape), Input("token_type_ids", "INT64", shape));
        request.Inputs[0].Contents = new InferTensorContents { Int64Contents = { ids } };
        request.Inputs[1].Contents = new InferTensorContents { Int64Contents = { mask } };
        request.Inputs[2].Contents = new InferTensorContents { Int64Contents = { types } };
        var inProcess = server.Services.GetRequiredService<IInferenceService>();

        var overGrpc = await Client.ModelInferAsync(request).ResponseAsync.WaitAsync(Timeout);
        var direct = await inProcess.InferAsync(new InferenceRequest
        {
            ModelName = DemoRepository.ModelName,
            Inputs =
            [
                TensorData.From<long>("input_ids", shape, ids),
                TensorData.From<long>("attention_mask", shape, mask),
                TensorData.From<long>("token_type_ids", shape, types),
            ],
        }, CancellationToken.None).AsTask().WaitAsync(Timeout);

        var expected = direct.Outputs.Single(o => o.Name == "last_hidden_state");
        var index = overGrpc.Outputs.Select(o => o.Name).ToList().IndexOf("last_hidden_state");
        Assert.True(index >= 0);
        Assert.Equal(expected.Shape, overGrpc.Outputs[index].Shape);
        Assert.Equal([1L, ids.Length, 384L], overGrpc.Outputs[index].Shape);
        var actual = Floats(overGrpc.RawOutputContents[index]);
        var reference = expected.ToArray<float>();
        Assert.Equal(reference.Length, actual.Length);
        for (var i = 0; i < reference.Length; i++)
        {
            Assert.True(Math.Abs(reference[i] - actual[i]) <= 1e-4f, $"element {i}: {actual[i]} vs {reference[i]}");
        }
    }

    [Fact]
    public async Task ModelInfer_TimingRequested_TrailersCarryPhaseTimes()
    {
        var request = AddOneRequest([1, 2, 3, 4]);
        var headers = new Metadata { { "sluice-timing", "true" } };

        using var call = Client.ModelInferAsync(request, headers);
        await call.ResponseAsync.WaitAsync(Timeout);
        var trailers = call.GetTrailers();

        foreach (var key in new[] { "sluice-queue-us", "sluice-compute-input-us", "sluice-compute-infer-us", "sluice-compute-output-us" })
        {
            Assert.True(long.TryParse(trailers.GetValue(key), NumberStyles.None, CultureInfo.InvariantCulture, out var micros), key);
            Assert.True(micros >= 0, key);
        }

        Assert.True(int.Parse(trailers.GetValue("sluice-batch-size")!, CultureInfo.InvariantCulture) >= 1);
    }

    [Fact]
    public async Task ModelInfer_TimingRequested_ServerShareCoversEveryPhaseAndFitsInTheClientsLatency()
    {
        var headers = new Metadata { { "sluice-timing", "true" } };
        var started = Stopwatch.GetTimestamp();
        using var call = Client.ModelInferAsync(AddOneRequest([1, 2, 3, 4]), headers);
        await call.ResponseAsync.WaitAsync(Timeout);
        var clientMicros = Stopwatch.GetElapsedTime(started).Ticks / TimeSpan.TicksPerMicrosecond;
        var trailers = call.GetTrailers();
        long Micros(string key) => long.Parse(trailers.GetValue(key)!, NumberStyles.None, CultureInfo.InvariantCulture);

        var phases = Micros("sluice-admit-us") + Micros("sluice-queue-us") + Micros("sluice-compute-input-us")
            + Micros("sluice-compute-infer-us") + Micros("sluice-compute-output-us");
        var server = Micros("sluice-server-us");

        Assert.True(server > 0, "sluice-server-us");
        Assert.True(server + 5 >= phases, $"server {server} us < its phases {phases} us");   // each trailer rounds down to 1 us
        Assert.True(server <= clientMicros, $"server {server} us > the client's whole latency {clientMicros} us");
    }

    [Fact]
    public async Task ModelInfer_TimingNotRequested_NoTimingTrailers()
    {
        using var call = Client.ModelInferAsync(AddOneRequest([1, 2, 3, 4]));
        await call.ResponseAsync.WaitAsync(Timeout);

        Assert.Null(call.GetTrailers().GetValue("sluice-queue-us"));
    }

    [Fact]
    public async Task ModelStreamInfer_InterleavedGoodAndBadRequests_EachAnsweredInPlaceStreamStaysOpen()
    {
        using var call = Client.ModelStreamInfer();
        var expected = new Dictionary<string, float[]>();
        var bad = new Dictionary<string, string>();
        for (var i = 0; i < 6; i++)
        {
            var values = new[] { i, i + 0.5f, -i, 10f * i };
            var good = AddOneRequest(values);
            good.Id = $"good-{i}";
            expected[good.Id] = values.Select(v => v + 1f).ToArray();
            await call.RequestStream.WriteAsync(good).WaitAsync(Timeout);

            var wrong = i switch
            {
                0 or 3 => AddOneRequest(values, model: "no_such_model"),
                1 or 4 => AddOneRequest(values, datatype: "FLOAT"),
                _ => AddOneRequest(values, shape: [1, 5]),
            };
            wrong.Id = $"bad-{i}";
            bad[wrong.Id] = i switch { 0 or 3 => "no_such_model", 1 or 4 => "datatype", _ => "INPUT0" };
            await call.RequestStream.WriteAsync(wrong).WaitAsync(Timeout);
        }

        await call.RequestStream.CompleteAsync().WaitAsync(Timeout);
        var answers = new Dictionary<string, ModelStreamInferResponse>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout))
        {
            answers.Add(call.ResponseStream.Current.InferResponse.Id, call.ResponseStream.Current);
        }

        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal(12, answers.Count);
        foreach (var (id, values) in expected)
        {
            Assert.Equal("", answers[id].ErrorMessage);
            Assert.Equal(values, Floats(answers[id].InferResponse.RawOutputContents[0]));
        }

        foreach (var (id, field) in bad)
        {
            Assert.Contains(field, answers[id].ErrorMessage);
        }
    }

    [Fact]
    public async Task ModelStatistics_AfterInference_CountsItForTheModel()
    {
        await Client.ModelInferAsync(AddOneRequest([1, 2, 3, 4])).ResponseAsync.WaitAsync(Timeout);

        var one = await Client.ModelStatisticsAsync(new ModelStatisticsRequest { Name = "add_one" }).ResponseAsync.WaitAsync(Timeout);
        var all = await Client.ModelStatisticsAsync(new ModelStatisticsRequest()).ResponseAsync.WaitAsync(Timeout);

        var stats = Assert.Single(one.ModelStats);
        Assert.Equal(("add_one", "1"), (stats.Name, stats.Version));
        Assert.True(stats.InferenceCount >= 1);
        Assert.True(stats.ExecutionCount >= 1);
        Assert.True(stats.InferenceStats.Success.Count >= 1);
        Assert.True(stats.InferenceStats.Success.Ns > 0);
        Assert.True(stats.LastInference > 0);
        Assert.Contains(all.ModelStats, s => s.Name == "add_one");
    }

    [Fact]
    public async Task RepositoryIndex_ListsLoadedModelsAsReady()
    {
        var index = await Client.RepositoryIndexAsync(new RepositoryIndexRequest()).ResponseAsync.WaitAsync(Timeout);
        var readyOnly = await Client.RepositoryIndexAsync(new RepositoryIndexRequest { Ready = true }).ResponseAsync.WaitAsync(Timeout);

        Assert.Contains(index.Models, m => m.Name == "add_one" && m.Version == "1" && m.State == "READY");
        Assert.Contains(readyOnly.Models, m => m.Name == DemoRepository.ModelName);
        Assert.All(readyOnly.Models, m => Assert.Equal("READY", m.State));
    }

    [Fact]
    public async Task RepositoryModelUnloadThenLoad_WithToken_ModelLeavesAndReturns()
    {
        var auth = GrpcServerFixture.Bearer(GrpcServerFixture.Token);

        await Client.RepositoryModelUnloadAsync(new RepositoryModelUnloadRequest { ModelName = "managed" }, auth).ResponseAsync.WaitAsync(Timeout);
        var afterUnload = await Client.ModelReadyAsync(new ModelReadyRequest { Name = "managed" }).ResponseAsync.WaitAsync(Timeout);
        await Client.RepositoryModelLoadAsync(new RepositoryModelLoadRequest { ModelName = "managed" }, auth).ResponseAsync.WaitAsync(Timeout);
        var afterLoad = await Client.ModelReadyAsync(new ModelReadyRequest { Name = "managed" }).ResponseAsync.WaitAsync(Timeout);

        Assert.False(afterUnload.Ready);
        Assert.True(afterLoad.Ready);
    }

    [Fact]
    public async Task RepositoryModelLoad_WithoutToken_UnauthenticatedAndModelUntouched()
    {
        var error = await Assert.ThrowsAsync<RpcException>(() =>
            Client.RepositoryModelUnloadAsync(new RepositoryModelUnloadRequest { ModelName = "add_one" }).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.True((await Client.ModelReadyAsync(new ModelReadyRequest { Name = "add_one" }).ResponseAsync.WaitAsync(Timeout)).Ready);
    }

    [Fact]
    public async Task ModelInfer_MessageOverMaxRequestBodyBytes_ResourceExhaustedAndServerStillServes()
    {
        var rows = (int)(GrpcServerFixture.MaxRequestBytes / 16) + 1024;
        var request = AddOneRequest(new float[rows * 4], shape: [rows, 4]);

        var error = await Assert.ThrowsAsync<RpcException>(() => Client.ModelInferAsync(request).ResponseAsync.WaitAsync(Timeout));
        var after = await Client.ModelInferAsync(AddOneRequest([1, 2, 3, 4])).ResponseAsync.WaitAsync(Timeout);

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal([2f, 3f, 4f, 5f], Floats(after.RawOutputContents[0]));
    }

    public static TheoryData<string, string> NonInferRpcsWithBadNames => new()
    {
        { "ModelReady", "../add_one" }, { "ModelMetadata", "/etc/passwd" }, { "ModelConfig", "..\\add_one" },
        { "ModelStatistics", "add\0one" }, { "RepositoryModelLoad", "../add_one" }, { "RepositoryModelUnload", ".." },
    };

    [Theory]
    [MemberData(nameof(NonInferRpcsWithBadNames))]
    public async Task ModelRpcs_TraversalOrControlCharacterName_InvalidArgumentNamingField(string rpc, string name)
    {
        var auth = GrpcServerFixture.Bearer(GrpcServerFixture.Token);
        Task call = rpc switch
        {
            "ModelReady" => Client.ModelReadyAsync(new ModelReadyRequest { Name = name }).ResponseAsync,
            "ModelMetadata" => Client.ModelMetadataAsync(new ModelMetadataRequest { Name = name }).ResponseAsync,
            "ModelConfig" => Client.ModelConfigAsync(new ModelConfigRequest { Name = name }).ResponseAsync,
            "ModelStatistics" => Client.ModelStatisticsAsync(new ModelStatisticsRequest { Name = name }).ResponseAsync,
            "RepositoryModelLoad" => Client.RepositoryModelLoadAsync(new RepositoryModelLoadRequest { ModelName = name }, auth).ResponseAsync,
            _ => Client.RepositoryModelUnloadAsync(new RepositoryModelUnloadRequest { ModelName = name }, auth).ResponseAsync,
        };

        var error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(Timeout));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("name", error.Status.Detail);
        Assert.True((await Client.ModelReadyAsync(new ModelReadyRequest { Name = "add_one" }).ResponseAsync.WaitAsync(Timeout)).Ready);
    }

    [Fact]
    public async Task ModelStatisticsAndLoad_UnknownModel_NotFound()
    {
        var auth = GrpcServerFixture.Bearer(GrpcServerFixture.Token);

        var statistics = await Assert.ThrowsAsync<RpcException>(() =>
            Client.ModelStatisticsAsync(new ModelStatisticsRequest { Name = "no_such_model" }).ResponseAsync.WaitAsync(Timeout));
        var load = await Assert.ThrowsAsync<RpcException>(() =>
            Client.RepositoryModelLoadAsync(new RepositoryModelLoadRequest { ModelName = "no_such_model" }, auth).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.NotFound, statistics.StatusCode);
        Assert.Equal(StatusCode.NotFound, load.StatusCode);
        Assert.Contains("no_such_model", load.Status.Detail);
    }

    internal static ModelInferRequest AddOneRequest(float[] values, string model = "add_one", string datatype = "FP32", long[]? shape = null)
    {
        var request = Request(model, Input("INPUT0", datatype, shape ?? [1, values.Length]));
        request.RawInputContents.Add(ByteString.CopyFrom(LittleEndian(values)));
        return request;
    }

    internal static float[] Floats(ByteString raw)
    {
        var bytes = raw.Span;
        var values = new float[bytes.Length / 4];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
        }

        return values;
    }
}
