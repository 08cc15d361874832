using System.Net;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Sluice.Server.Tests.TestSupport;
using static Sluice.Server.Tests.TestSupport.KServeHttp;

namespace Sluice.Server.Tests.Http;

public sealed class KServeHttpEndpointsTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private HttpClient Client => fixture.Client;

    private async Task<JsonNode> GetJsonAsync(string path)
    {
        using var response = await Client.GetAsync(path).WaitAsync(Timeout);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    [Fact]
    public async Task ServerMetadata_Get_NamesServerAndExtensions()
    {
        var metadata = await GetJsonAsync("v2");

        Assert.Equal("sluice", (string)metadata["name"]!);
        Assert.False(string.IsNullOrEmpty((string)metadata["version"]!));
        var extensions = metadata["extensions"]!.AsArray().Select(static e => (string)e!).ToList();
        Assert.Contains("binary_tensor_data", extensions);
        Assert.Contains("statistics", extensions);
        Assert.Contains("generate", extensions);   // Triton's generate extension (/v2/models/{m}/generate[_stream])
    }

    [Theory]
    [InlineData("v2/health/live")]
    [InlineData("v2/health/ready")]
    [InlineData("v2/models/add_one/ready")]
    [InlineData("v2/models/add_one/versions/1/ready")]
    public async Task Health_ReadyServerAndModel_Answers200(string path)
    {
        using var response = await Client.GetAsync(path).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ModelReady_UnknownModel_AnswersNotReady()
    {
        using var response = await Client.GetAsync("v2/models/nope/ready").WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("nope", await ReadErrorAsync(response));
    }

    [Theory]
    [InlineData("v2/models/add_one")]
    [InlineData("v2/models/add_one/versions/1")]
    public async Task ModelMetadata_AddOne_DescribesTensorsWithBatchDimension(string path)
    {
        var metadata = await GetJsonAsync(path);

        Assert.Equal("add_one", (string)metadata["name"]!);
        Assert.Contains("1", metadata["versions"]!.AsArray().Select(static v => (string)v!));
        Assert.Equal("onnxruntime_onnx", (string)metadata["platform"]!);
        var input = metadata["inputs"]![0]!;
        Assert.Equal("INPUT0", (string)input["name"]!);
        Assert.Equal("FP32", (string)input["datatype"]!);
        Assert.Equal([-1L, 4L], input["shape"]!.AsArray().Select(static d => (long)d!));
        Assert.Equal("OUTPUT0", (string)metadata["outputs"]![0]!["name"]!);
    }

    [Theory]
    [InlineData("v2/models/nope")]
    [InlineData("v2/models/add_one/versions/7")]
    [InlineData("v2/models/nope/config")]
    [InlineData("v2/models/nope/stats")]
    public async Task ModelEndpoints_UnknownModelOrVersion_Answer404WithError(string path)
    {
        using var response = await Client.GetAsync(path).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.False(string.IsNullOrEmpty(await ReadErrorAsync(response)));
    }

    [Fact]
    public async Task Infer_JsonFlatData_ReturnsInputPlusOne()
    {
        using var response = await Client.PostAsync("v2/models/add_one/infer", Json("""
            {"id":"req-7","inputs":[{"name":"INPUT0","datatype":"FP32","shape":[2,4],"data":[0,1,2,3,4,5,6,7.5]}]}
            """)).WaitAsync(Timeout);

        var result = await ReadInferAsync(response);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("add_one", (string)result.Header["model_name"]!);
        Assert.Equal("1", (string)result.Header["model_version"]!);
        Assert.Equal("req-7", (string)result.Header["id"]!);
        Assert.Equal([2L, 4L], result.Output("OUTPUT0")["shape"]!.AsArray().Select(static d => (long)d!));
        Assert.Equal([1f, 2, 3, 4, 5, 6, 7, 8.5f], result.Floats("OUTPUT0"));
    }

    [Fact]
    public async Task Infer_JsonNestedData_EqualsFlatData()
    {
        using var flat = await Client.PostAsync("v2/models/add_one/infer", Json("""
            {"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[2,4],"data":[0.25,1,2,3,4,5,6,7]}]}
            """)).WaitAsync(Timeout);
        using var nested = await Client.PostAsync("v2/models/add_one/infer", Json("""
            {"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[2,4],"data":[[0.25,1,2,3],[4,5,6,7]]}]}
            """)).WaitAsync(Timeout);

        Assert.Equal((await ReadInferAsync(flat)).Floats("OUTPUT0"), (await ReadInferAsync(nested)).Floats("OUTPUT0"));
    }

    [Fact]
    public async Task Infer_BinaryInputAndOutput_ByteExactAgainstJson()
    {
        float[] input = [0.1f, -2.5f, 3.75f, 1e-7f];
        using var json = await Client.PostAsync("v2/models/add_one/infer", Json($$"""
            {"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[{{string.Join(",", input.Select(static f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}]}]}
            """)).WaitAsync(Timeout);
        using var binary = await Client.PostAsync("v2/models/add_one/infer", Binary("""
            {"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"parameters":{"binary_data_size":16}}],
             "outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}
            """, Bytes(input))).WaitAsync(Timeout);

        var jsonResult = await ReadInferAsync(json);
        var binaryResult = await ReadInferAsync(binary);
        Assert.Equal("application/octet-stream", binary.Content.Headers.ContentType!.MediaType);
        Assert.Equal(16L, (long)binaryResult.Output("OUTPUT0")["parameters"]!["binary_data_size"]!);
        Assert.Null(binaryResult.Output("OUTPUT0")["data"]);
        Assert.Equal(Bytes(jsonResult.Floats("OUTPUT0")), binaryResult.Binary["OUTPUT0"]);
        Assert.Equal(input.Select(static f => f + 1f), binaryResult.Floats("OUTPUT0"));
    }

    [Fact]
    public async Task Infer_BinaryDataOutputParameter_ReturnsEveryOutputBinary()
    {
        var a = Enumerable.Range(0, 16).Select(static i => (float)i).ToArray();
        var b = Enumerable.Range(0, 16).Select(static i => 0.5f * i).ToArray();

        using var response = await Client.PostAsync("v2/models/simple/infer", Binary("""
            {"parameters":{"binary_data_output":true},
             "inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"parameters":{"binary_data_size":64}},
                       {"name":"INPUT1","datatype":"FP32","shape":[1,16],"data":[0,0.5,1,1.5,2,2.5,3,3.5,4,4.5,5,5.5,6,6.5,7,7.5]}]}
            """, Bytes(a))).WaitAsync(Timeout);

        var result = await ReadInferAsync(response);
        Assert.Equal(a.Zip(b, static (x, y) => x + y), result.Floats("OUTPUT0"));
        Assert.Equal(a.Zip(b, static (x, y) => x - y), result.Floats("OUTPUT1"));
        Assert.Equal(2, result.Binary.Count);
    }

    [Fact]
    public async Task Infer_MixedBinaryAndJsonOutputs_BinaryPartHoldsOnlyTheBinaryOutput()
    {
        var a = Enumerable.Range(0, 16).Select(static i => (float)i).ToArray();

        using var response = await Client.PostAsync("v2/models/simple/infer", Binary("""
            {"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"parameters":{"binary_data_size":64}},
                       {"name":"INPUT1","datatype":"FP32","shape":[1,16],"parameters":{"binary_data_size":64}}],
             "outputs":[{"name":"OUTPUT0","parameters":{"binary_data":false}},{"name":"OUTPUT1","parameters":{"binary_data":true}}]}
            """, Bytes(a), Bytes(a))).WaitAsync(Timeout);

        var result = await ReadInferAsync(response);
        Assert.Equal(a.Select(static x => 2 * x), result.Output("OUTPUT0")["data"]!.AsArray().Select(static v => (float)v!));
        Assert.Equal(Bytes(new float[16]), Assert.Single(result.Binary).Value);
        Assert.Equal("OUTPUT1", result.Binary.Keys.Single());
        Assert.Equal(response.Content.Headers.ContentLength - 64,
            long.Parse(response.Headers.GetValues("Inference-Header-Content-Length").Single()));
    }

    [Fact]
    public async Task Infer_RequestedOutputOnly_ReturnsJustThatOutput()
    {
        using var response = await Client.PostAsync("v2/models/simple/infer", Json("""
            {"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},
                       {"name":"INPUT1","datatype":"FP32","shape":[1,16],"data":[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]}],
             "outputs":[{"name":"OUTPUT1"}]}
            """)).WaitAsync(Timeout);

        var result = await ReadInferAsync(response);
        var output = Assert.Single(result.Header["outputs"]!.AsArray());
        Assert.Equal("OUTPUT1", (string)output!["name"]!);
        Assert.All(result.Floats("OUTPUT1"), static v => Assert.Equal(-1f, v));
    }

    [Fact]
    public async Task Infer_Int64Identity_RoundTripsExtremeValues()
    {
        using var response = await Client.PostAsync("v2/models/identity_int64/infer", Json("""
            {"inputs":[{"name":"INPUT0","datatype":"INT64","shape":[2,2],"data":[[9223372036854775807,-9223372036854775808],[0,-1]]}]}
            """)).WaitAsync(Timeout);

        var result = await ReadInferAsync(response);
        Assert.Equal([long.MaxValue, long.MinValue, 0L, -1L], result.Output("OUTPUT0")["data"]!.AsArray().Select(static v => (long)v!));
        Assert.Equal("INT64", (string)result.Output("OUTPUT0")["datatype"]!);
    }

    [Fact]
    public async Task Infer_Fp16JsonNumbers_ReturnBinaryHalvesAndJsonNumbers()
    {
        Half[] values = [(Half)0.5f, (Half)(-1.25f), (Half)65504f, (Half)0.0999755859375f];
        const string Body = """{"inputs":[{"name":"INPUT0","datatype":"FP16","shape":[2,2],"data":[[0.5,-1.25],[65504,0.0999755859375]]}]""";

        using var binary = await Client.PostAsync("v2/models/identity_fp16/infer",
            Json(Body + ""","parameters":{"binary_data_output":true}}""")).WaitAsync(Timeout);
        using var json = await Client.PostAsync("v2/models/identity_fp16/infer", Json(Body + "}")).WaitAsync(Timeout);

        var binaryResult = await ReadInferAsync(binary);
        Assert.Equal(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), binaryResult.Binary["OUTPUT0"]);
        var jsonResult = await ReadInferAsync(json);
        Assert.Equal(values, jsonResult.Output("OUTPUT0")["data"]!.AsArray().Select(static v => (Half)(double)v!));   // numbers that round to the same halves
        Assert.Equal("FP16", (string)jsonResult.Output("OUTPUT0")["datatype"]!);
    }

    [Fact]
    public async Task Infer_BytesStrings_RoundTripJsonAndBinary()
    {
        using var json = await Client.PostAsync("v2/models/identity_bytes/infer", Json("""
            {"inputs":[{"name":"INPUT0","datatype":"BYTES","shape":[1,2],"data":["héllo",""]}]}
            """)).WaitAsync(Timeout);
        byte[] wire = [6, 0, 0, 0, .. "héllo"u8.ToArray(), 0, 0, 0, 0];
        using var binary = await Client.PostAsync("v2/models/identity_bytes/infer", Binary("""
            {"inputs":[{"name":"INPUT0","datatype":"BYTES","shape":[1,2],"parameters":{"binary_data_size":14}}],
             "outputs":[{"name":"OUTPUT0","parameters":{"binary_data":true}}]}
            """, wire)).WaitAsync(Timeout);

        var jsonResult = await ReadInferAsync(json);
        Assert.Equal(["héllo", ""], jsonResult.Output("OUTPUT0")["data"]!.AsArray().Select(static v => (string)v!));
        Assert.Equal(wire, (await ReadInferAsync(binary)).Binary["OUTPUT0"]);
    }

    [Fact]
    public async Task Infer_MiniLmBinary_MatchesBareOnnxRuntimeAndJson()
    {
        const int Sequence = 8;
        long[] ids = [101, 7592, 2088, 2003, 1037, 3231, 1012, 102];
        long[] mask = [.. Enumerable.Repeat(1L, Sequence)];
        long[] types = new long[Sequence];
        var header = $$$"""
            {"inputs":[{"name":"input_ids","datatype":"INT64","shape":[1,{{{Sequence}}}],"parameters":{"binary_data_size":64}},
                       {"name":"attention_mask","datatype":"INT64","shape":[1,{{{Sequence}}}],"parameters":{"binary_data_size":64}},
                       {"name":"token_type_ids","datatype":"INT64","shape":[1,{{{Sequence}}}],"parameters":{"binary_data_size":64}}],
             "outputs":[{"name":"last_hidden_state","parameters":{"binary_data":true}}]}
            """;

        using var binary = await Client.PostAsync("v2/models/minilm/infer", Binary(header, Bytes(ids), Bytes(mask), Bytes(types))).WaitAsync(Timeout);
        using var json = await Client.PostAsync("v2/models/minilm/infer", Json($$"""
            {"inputs":[{"name":"input_ids","datatype":"INT64","shape":[1,{{Sequence}}],"data":[{{string.Join(",", ids)}}]},
                       {"name":"attention_mask","datatype":"INT64","shape":[1,{{Sequence}}],"data":[{{string.Join(",", mask)}}]},
                       {"name":"token_type_ids","datatype":"INT64","shape":[1,{{Sequence}}],"data":[{{string.Join(",", types)}}]}]}
            """)).WaitAsync(Timeout);

        var served = (await ReadInferAsync(binary)).Floats("last_hidden_state");
        Assert.Equal(Bytes(served), Bytes((await ReadInferAsync(json)).Floats("last_hidden_state")));
        var expected = RunBare(Path.Combine(fixture.RepositoryPath, "minilm", "1", "model.onnx"), ids, mask, types);
        Assert.Equal(expected.Length, served.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - served[i]) < 1e-4f, $"element {i}: {expected[i]} vs {served[i]}");
        }
    }

    private static float[] RunBare(string modelPath, long[] ids, long[] mask, long[] types)
    {
        using var session = new InferenceSession(modelPath);
        long[] shape = [1, ids.Length];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, shape);
        using var typesValue = OrtValue.CreateTensorValueFromMemory(types, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["input_ids", "attention_mask", "token_type_ids"], [idsValue, maskValue, typesValue], ["last_hidden_state"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    [Fact]
    public async Task Infer_TimingRequested_ReturnsPhaseHeaders()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v2/models/add_one/infer")
        {
            Content = Json("""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}"""),
        };
        request.Headers.Add("Sluice-Timing", "true");

        using var response = await Client.SendAsync(request).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        foreach (var name in (string[])["Sluice-Queue-Us", "Sluice-Compute-Input-Us", "Sluice-Compute-Infer-Us", "Sluice-Compute-Output-Us"])
        {
            Assert.True(long.Parse(response.Headers.GetValues(name).Single()) >= 0, name);
        }

        Assert.True(int.Parse(response.Headers.GetValues("Sluice-Batch-Size").Single()) >= 1);
    }

    [Fact]
    public async Task Infer_TimingNotRequested_ReturnsNoPhaseHeaders()
    {
        using var response = await Client.PostAsync("v2/models/add_one/infer",
            Json("""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}""")).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Sluice-Queue-Us"));
    }

    [Fact]
    public async Task Config_TritonPbtxtRepository_ReportsItsFieldsUnchanged()
    {
        var config = await GetJsonAsync("v2/models/simple/config");

        Assert.Equal("simple", (string)config["name"]!);
        Assert.Equal("onnxruntime_onnx", (string)config["platform"]!);
        Assert.Equal(8, (int)config["max_batch_size"]!);
        var inputs = config["input"]!.AsArray();
        Assert.Equal(["INPUT0", "INPUT1"], inputs.Select(static i => (string)i!["name"]!));
        Assert.All(inputs, static i => Assert.Equal("TYPE_FP32", (string)i!["data_type"]!));
        Assert.Equal([16L], inputs[0]!["dims"]!.AsArray().Select(static d => (long)d!));
        Assert.Equal([4], config["dynamic_batching"]!["preferred_batch_size"]!.AsArray().Select(static d => (int)d!));
        Assert.Equal(500L, (long)config["dynamic_batching"]!["max_queue_delay_microseconds"]!);
        Assert.Equal("KIND_CPU", (string)config["instance_group"]![0]!["kind"]!);
        var warmup = Assert.Single(config["model_warmup"]!.AsArray())!;
        Assert.Equal(("zeros and noise", 2, 1), ((string)warmup["name"]!, (int)warmup["batch_size"]!, (int)warmup["count"]!));
        var zeros = warmup["inputs"]!["INPUT0"]!;
        Assert.Equal("TYPE_FP32", (string)zeros["data_type"]!);
        Assert.Equal([16L], zeros["dims"]!.AsArray().Select(static d => (long)d!));
        Assert.True((bool)zeros["zero_data"]!);
        Assert.Null(zeros["random_data"]);
        Assert.True((bool)warmup["inputs"]!["INPUT1"]!["random_data"]!);
    }

    [Fact]
    public async Task Config_NoConfigFile_CompletedFromTheModel()
    {
        var config = await GetJsonAsync("v2/models/add_one/versions/1/config");

        Assert.Equal("add_one", (string)config["name"]!);
        Assert.True((int)config["max_batch_size"]! > 0);
        Assert.Equal("TYPE_FP32", (string)config["input"]![0]!["data_type"]!);
        Assert.Equal([4L], config["input"]![0]!["dims"]!.AsArray().Select(static d => (long)d!));
        Assert.NotNull(config["dynamic_batching"]);
    }

    [Fact]
    public async Task Statistics_AfterInference_HaveTritonShape()
    {
        using var infer = await Client.PostAsync("v2/models/simple/infer", Json("""
            {"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]},
                       {"name":"INPUT1","datatype":"FP32","shape":[1,16],"data":[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2]}]}
            """)).WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.OK, infer.StatusCode);

        var stats = await GetJsonAsync("v2/models/simple/stats");

        var model = Assert.Single(stats["model_stats"]!.AsArray())!.AsObject();
        Assert.Equal(["name", "version", "last_inference", "inference_count", "execution_count", "inference_stats", "batch_stats"],
            model.Select(static p => p.Key));
        Assert.Equal("simple", (string)model["name"]!);
        Assert.Equal("1", (string)model["version"]!);
        Assert.True((long)model["inference_count"]! >= 1);
        Assert.True((long)model["execution_count"]! >= 1);
        Assert.True((long)model["last_inference"]! > 0);
        var inferStats = model["inference_stats"]!.AsObject();
        Assert.Equal(["success", "fail", "queue", "compute_input", "compute_infer", "compute_output", "cache_hit", "cache_miss"],
            inferStats.Select(static p => p.Key));
        Assert.All(inferStats, static p => Assert.Equal(["count", "ns"], p.Value!.AsObject().Select(static q => q.Key)));
        Assert.True((long)inferStats["success"]!["count"]! >= 1);
        var batch = model["batch_stats"]!.AsArray()[0]!.AsObject();
        Assert.Equal(["batch_size", "compute_input", "compute_infer", "compute_output"], batch.Select(static p => p.Key));
    }

    [Fact]
    public async Task Statistics_AllModels_ListsEveryReadyModel()
    {
        var stats = await GetJsonAsync("v2/models/stats");

        var names = stats["model_stats"]!.AsArray().Select(static m => (string)m!["name"]!).ToList();
        Assert.Contains("add_one", names);
        Assert.Contains("minilm", names);
    }

    [Theory]
    [InlineData("")]
    [InlineData("""{"ready":true}""")]
    public async Task RepositoryIndex_Post_ListsModelsWithState(string body)
    {
        using var response = await Client.PostAsync("v2/repository/index", Json(body)).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var index = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();
        var addOne = index.Single(static e => (string)e!["name"]! == "add_one")!;
        Assert.Equal("1", (string)addOne["version"]!);
        Assert.Equal("READY", (string)addOne["state"]!);
    }

    [Theory]
    [InlineData("load")]
    [InlineData("unload")]
    public async Task Management_Disabled_Answers404(string action)
    {
        using var response = await Client.PostAsync($"v2/repository/models/add_one/{action}", null).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("management", await ReadErrorAsync(response));
    }

    [Fact]
    public async Task Endpoints_WrongMethod_Answer405WithErrorBody()
    {
        using var response = await Client.GetAsync("v2/models/add_one/infer").WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Contains("GET", await ReadErrorAsync(response));
    }

    [Fact]
    public async Task HttpEndpoints_OnGrpcPort_Answer404()
    {
        using var client = new HttpClient { BaseAddress = fixture.Server.Addresses.Grpc };
        using var request = new HttpRequestMessage(HttpMethod.Get, "v2/health/live")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        using var response = await client.SendAsync(request).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
