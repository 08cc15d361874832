using Google.Protobuf;
using Grpc.Core;
using Sluice.Server.Grpc.Protocol;
using static Sluice.Server.Tests.Grpc.ModelInferRequestDecoderTests;

namespace Sluice.Server.Tests.Grpc;

/// <summary>
/// A corpus of malformed ModelInfer requests against the real server: each is answered INVALID_ARGUMENT or NOT_FOUND with a
/// message naming the offending field, never INTERNAL or UNKNOWN, and the server is still ready afterwards.
/// </summary>
[Collection(GrpcServerCollection.Name)]
public sealed class GrpcMalformedRequestTests(GrpcServerFixture server)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A malformed request, the status it must get, and words of which the message must contain at least one.</summary>
    private sealed record Case(Func<ModelInferRequest> Build, StatusCode Status, params string[] Field);

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // Model name and version.
        ["unknown model"] = new(() => AddOne(model: "no_such_model"), StatusCode.NotFound, "no_such_model"),
        ["empty model name"] = new(() => AddOne(model: ""), StatusCode.InvalidArgument, "model_name"),
        ["traversal ../"] = new(() => AddOne(model: "../add_one"), StatusCode.InvalidArgument, "model_name"),
        ["traversal ..\\"] = new(() => AddOne(model: "..\\add_one"), StatusCode.InvalidArgument, "model_name"),
        ["traversal percent-encoded"] = new(() => AddOne(model: "%2e%2e%2fadd_one"), StatusCode.InvalidArgument, "model_name"),
        ["absolute path name"] = new(() => AddOne(model: "/etc/passwd"), StatusCode.InvalidArgument, "model_name"),
        ["dot name"] = new(() => AddOne(model: ".."), StatusCode.InvalidArgument, "model_name"),
        ["NUL in name"] = new(() => AddOne(model: "add\0one"), StatusCode.InvalidArgument, "model_name"),
        ["name of 300 characters"] = new(() => AddOne(model: new string('m', 300)), StatusCode.InvalidArgument, "model_name"),
        ["version not a number"] = new(() => AddOne(version: "latest"), StatusCode.InvalidArgument, "model_version"),
        ["negative version"] = new(() => AddOne(version: "-1"), StatusCode.InvalidArgument, "model_version"),
        ["version absent from repository"] = new(() => AddOne(version: "99"), StatusCode.NotFound, "99", "version"),

        // Datatype names and contents.
        ["unknown datatype name"] = new(() => AddOne(datatype: "FLOAT32"), StatusCode.InvalidArgument, "datatype"),
        ["lowercase datatype"] = new(() => AddOne(datatype: "fp32"), StatusCode.InvalidArgument, "datatype"),
        ["Triton config datatype name"] = new(() => AddOne(datatype: "TYPE_FP32"), StatusCode.InvalidArgument, "datatype"),
        ["empty datatype"] = new(() => AddOne(datatype: ""), StatusCode.InvalidArgument, "datatype"),
        ["FP32 with int64_contents"] = new(() => Typed("FP32", c => c.Int64Contents.Add([1, 2, 3, 4])), StatusCode.InvalidArgument, "contents"),
        ["INT64 with fp32_contents"] = new(() => Typed("INT64", c => c.Fp32Contents.Add([1, 2, 3, 4])), StatusCode.InvalidArgument, "contents"),
        ["FP32 with bytes_contents"] = new(() => Typed("FP32", c => c.BytesContents.Add([ByteString.CopyFromUtf8("a")])), StatusCode.InvalidArgument, "contents"),
        ["two typed fields"] = new(() => Typed("FP32", c => { c.Fp32Contents.Add([1, 2]); c.Fp64Contents.Add([3, 4]); }), StatusCode.InvalidArgument, "contents"),
        ["FP16 typed"] = new(() => Typed("FP16", c => c.Fp32Contents.Add([1, 2, 3, 4]), model: "identity_fp16"), StatusCode.InvalidArgument, "contents"),
        ["typed count below shape"] = new(() => Typed("FP32", c => c.Fp32Contents.Add([1, 2, 3])), StatusCode.InvalidArgument, "fp32_contents"),
        ["typed count above shape"] = new(() => Typed("FP32", c => c.Fp32Contents.Add([1, 2, 3, 4, 5])), StatusCode.InvalidArgument, "fp32_contents"),
        ["no data at all"] = new(() => Request("add_one", Input("INPUT0", "FP32", [1, 4])), StatusCode.InvalidArgument, "contents"),
        ["INT8 value out of range"] = new(() => Typed("INT8", c => c.IntContents.Add([1, 2, 300]), model: "identity_int8", shape: [1, 3]), StatusCode.InvalidArgument, "int_contents"),
        ["UINT8 value out of range"] = new(() => Typed("UINT8", c => c.UintContents.Add([1, 256, 3]), model: "identity_uint8", shape: [1, 3]), StatusCode.InvalidArgument, "uint_contents"),

        // Raw contents.
        ["raw count below inputs"] = new(() => AddSub(rawCount: 1), StatusCode.InvalidArgument, "raw_input_contents"),
        ["raw count above inputs"] = new(() => { var r = AddOne(); r.RawInputContents.Add(ByteString.CopyFrom(new byte[16])); return r; }, StatusCode.InvalidArgument, "raw_input_contents"),
        ["raw shorter than shape"] = new(() => AddOne(rawBytes: 12), StatusCode.InvalidArgument, "raw_input_contents[0]"),
        ["raw longer than shape"] = new(() => AddOne(rawBytes: 20), StatusCode.InvalidArgument, "raw_input_contents[0]"),
        ["raw empty for non-empty shape"] = new(() => AddOne(rawBytes: 0), StatusCode.InvalidArgument, "raw_input_contents[0]"),
        ["mixed raw and typed"] = new(() => { var r = AddSub(rawCount: 2); r.Inputs[1].Contents = new InferTensorContents { Fp32Contents = { new float[16] } }; return r; }, StatusCode.InvalidArgument, "contents"),
        ["BYTES length prefix past the end"] = new(() => Bytes([100, 0, 0, 0, (byte)'a', (byte)'b']), StatusCode.InvalidArgument, "raw_input_contents[0]"),
        ["BYTES truncated length prefix"] = new(() => Bytes([1, 0, 0, 0, (byte)'a', 1, 0]), StatusCode.InvalidArgument, "raw_input_contents[0]"),
        ["BYTES fewer elements than shape"] = new(() => Bytes([1, 0, 0, 0, (byte)'a', 0, 0, 0, 0]), StatusCode.InvalidArgument, "raw_input_contents[0]"),
        ["BYTES length prefix 0xFFFFFFFF"] = new(() => Bytes([0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3]), StatusCode.InvalidArgument, "raw_input_contents[0]"),

        // Shapes.
        ["negative dimension"] = new(() => AddOne(shape: [-1, 4]), StatusCode.InvalidArgument, "shape"),
        ["overflowing shape product"] = new(() => AddOne(shape: [1L << 62, 1L << 62]), StatusCode.InvalidArgument, "shape"),
        ["overflowing byte size"] = new(() => AddOne(shape: [1L << 61, 1]), StatusCode.InvalidArgument, "shape"),
        ["huge shape with tiny data"] = new(() => AddOne(shape: [1_000_000_000, 4]), StatusCode.InvalidArgument, "raw_input_contents[0]"),
        ["65 dimensions"] = new(() => AddOne(shape: Enumerable.Repeat(1L, 65).ToArray(), rawBytes: 4), StatusCode.InvalidArgument, "shape"),
        ["shape not matching model dims"] = new(() => AddOne(shape: [1, 5], rawBytes: 20), StatusCode.InvalidArgument, "INPUT0"),
        ["rank not matching model"] = new(() => AddOne(shape: [4], rawBytes: 16), StatusCode.InvalidArgument, "INPUT0"),
        ["batch above max_batch_size"] = new(() => AddOne(shape: [100_000, 4], rawBytes: 1_600_000), StatusCode.InvalidArgument, "INPUT0", "batch"),
        ["datatype not the model's"] = new(() => AddOne(datatype: "INT32"), StatusCode.InvalidArgument, "INPUT0"),

        // Input and output names.
        ["missing input"] = new(() => AddSub(rawCount: 1, inputs: 1), StatusCode.InvalidArgument, "INPUT1"),
        ["no inputs"] = new(() => Request("add_one"), StatusCode.InvalidArgument, "INPUT0", "input"),
        ["unknown extra input"] = new(() => { var r = AddOne(); r.Inputs.Add(Input("EXTRA", "FP32", [1, 4])); r.RawInputContents.Add(ByteString.CopyFrom(new byte[16])); return r; }, StatusCode.InvalidArgument, "EXTRA"),
        ["wrongly named input"] = new(() => { var r = AddOne(); r.Inputs[0].Name = "INPUTX"; return r; }, StatusCode.InvalidArgument, "INPUTX", "INPUT0"),
        ["duplicate input"] = new(() => { var r = AddOne(); r.Inputs.Add(Input("INPUT0", "FP32", [1, 4])); r.RawInputContents.Add(ByteString.CopyFrom(new byte[16])); return r; }, StatusCode.InvalidArgument, "inputs[1].name"),
        ["empty input name"] = new(() => { var r = AddOne(); r.Inputs[0].Name = ""; return r; }, StatusCode.InvalidArgument, "inputs[0].name"),
        ["unknown requested output"] = new(() => WithOutputs(AddOne(), "NOPE"), StatusCode.InvalidArgument, "NOPE"),
        ["duplicate requested output"] = new(() => WithOutputs(AddOne(), "OUTPUT0", "OUTPUT0"), StatusCode.InvalidArgument, "outputs[1]"),
        ["empty requested output name"] = new(() => WithOutputs(AddOne(), ""), StatusCode.InvalidArgument, "outputs[0].name"),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    [Fact]
    public void Corpus_HasAtLeastFortyCases()
    {
        Assert.True(Cases.Count >= 40, $"only {Cases.Count} cases");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task ModelInfer_MalformedRequest_ClientErrorNamingFieldAndServerStillReady(string caseName)
    {
        var malformed = Cases[caseName];

        var error = await Assert.ThrowsAsync<RpcException>(() => server.Client.ModelInferAsync(malformed.Build()).ResponseAsync.WaitAsync(Timeout));

        Assert.True(error.StatusCode == malformed.Status, $"{caseName}: got {error.StatusCode} '{error.Status.Detail}'");
        Assert.True(malformed.Field.Any(error.Status.Detail.Contains), $"{caseName}: '{error.Status.Detail}' names none of {string.Join(", ", malformed.Field)}");
        Assert.DoesNotContain("Exception", error.Status.Detail);
        Assert.DoesNotContain(Path.GetTempPath(), error.Status.Detail);
        Assert.True((await server.Client.ServerReadyAsync(new ServerReadyRequest()).ResponseAsync.WaitAsync(Timeout)).Ready);
        Assert.True((await server.Client.ModelReadyAsync(new ModelReadyRequest { Name = "add_one" }).ResponseAsync.WaitAsync(Timeout)).Ready);
    }

    [Fact]
    public async Task ModelStreamInfer_MalformedCorpus_EveryRequestAnsweredWithErrorMessageStreamEndsOk()
    {
        using var call = server.Client.ModelStreamInfer();
        var names = Cases.Keys.ToList();
        for (var i = 0; i < names.Count; i++)
        {
            var request = Cases[names[i]].Build();
            request.Id = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await call.RequestStream.WriteAsync(request).WaitAsync(Timeout);
        }

        await call.RequestStream.CompleteAsync().WaitAsync(Timeout);
        var answered = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout))
        {
            var answer = call.ResponseStream.Current;
            var malformed = Cases[names[int.Parse(answer.InferResponse.Id, System.Globalization.CultureInfo.InvariantCulture)]];
            Assert.True(malformed.Field.Any(answer.ErrorMessage.Contains), $"'{answer.ErrorMessage}' names none of {string.Join(", ", malformed.Field)}");
            answered++;
        }

        Assert.Equal(names.Count, answered);
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    private static ModelInferRequest AddOne(string model = "add_one", string version = "", string datatype = "FP32", long[]? shape = null, int rawBytes = 16)
    {
        var request = Request(model, Input("INPUT0", datatype, shape ?? [1, 4]));
        request.ModelVersion = version;
        request.RawInputContents.Add(ByteString.CopyFrom(new byte[rawBytes]));
        return request;
    }

    private static ModelInferRequest AddSub(int rawCount, int inputs = 2)
    {
        var request = Request("add_sub");
        for (var i = 0; i < inputs; i++)
        {
            request.Inputs.Add(Input($"INPUT{i}", "FP32", [1, 16]));
        }

        for (var i = 0; i < rawCount; i++)
        {
            request.RawInputContents.Add(ByteString.CopyFrom(new byte[64]));
        }

        return request;
    }

    private static ModelInferRequest Typed(string datatype, Action<InferTensorContents> fill, string model = "add_one", long[]? shape = null)
    {
        var request = Request(model, Input("INPUT0", datatype, shape ?? [1, 4]));
        request.Inputs[0].Contents = new InferTensorContents();
        fill(request.Inputs[0].Contents);
        return request;
    }

    private static ModelInferRequest Bytes(byte[] raw)
    {
        var request = Request("identity_bytes", Input("INPUT0", "BYTES", [1, 3]));
        request.RawInputContents.Add(ByteString.CopyFrom(raw));
        return request;
    }

    private static ModelInferRequest WithOutputs(ModelInferRequest request, params string[] names)
    {
        foreach (var name in names)
        {
            request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = name });
        }

        return request;
    }
}
