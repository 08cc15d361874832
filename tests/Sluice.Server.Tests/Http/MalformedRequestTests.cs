using System.Net;
using System.Text;
using Sluice.Server.Tests.TestSupport;
using static Sluice.Server.Tests.TestSupport.KServeHttp;

namespace Sluice.Server.Tests.Http;

/// <summary>One malformed HTTP request and what its error message must name.</summary>
public sealed record MalformedCase(string Name, string Method, string Path, byte[]? Body, int? HeaderLength, string? RawHeaderLength, string Expected, int? Status = null)
{
    public override string ToString() => Name;
}

/// <summary>
/// The malformed-request corpus over HTTP JSON and binary: every case is answered 4xx with an error naming the offending
/// field, none 5xx, and the server stays ready.
/// </summary>
public sealed class MalformedRequestTests(MalformedRequestTests.Fixture fixture, Xunit.Abstractions.ITestOutputHelper output)
    : IClassFixture<MalformedRequestTests.Fixture>
{
    /// <summary>A server with a small request-body limit, so 413 cases stay small.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        private readonly TestRepository _repository = new TestRepository().WithAddOne().WithTritonAddSub();

        internal SluiceServer Server { get; private set; } = null!;

        public async Task InitializeAsync() =>
            Server = await SluiceServer.StartAsync(_repository, options => options.MaxRequestBodyBytes = 64 * 1024, models: ["add_one", "simple"]);

        public async Task DisposeAsync()
        {
            await Server.DisposeAsync();
            _repository.Dispose();
        }
    }

    private const string Infer = "v2/models/add_one/infer";

    /// <summary>Expected text for requests Kestrel rejects at the protocol level, with an empty body.</summary>
    private const string KestrelRejects = "";

    private static MalformedCase J(string name, string json, string expected, string path = Infer, int? status = null) =>
        new(name, "POST", path, Encoding.UTF8.GetBytes(json), null, null, expected, status);

    private static MalformedCase B(string name, string header, int binaryBytes, string expected, int? headerLength = null, string? rawHeaderLength = null)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header);
        return new(name, "POST", Infer, [.. headerBytes, .. new byte[binaryBytes]], rawHeaderLength is null ? headerLength ?? headerBytes.Length : null, rawHeaderLength, expected);
    }

    private static string Input(string fields) => $$"""{"inputs":[{{{fields}}}]}""";

    private const string Good = "\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4]";

    public static TheoryData<MalformedCase> Cases()
    {
        var cases = new List<MalformedCase>
        {
            // :: JSON syntax and top level
            J("empty body", "", "empty"),
            J("not json", "hello", "not valid JSON"),
            J("truncated json", """{"inputs":[{"name":"INPUT0" """, "JSON"),
            J("trailing garbage", Input(Good + ",\"data\":[1,2,3,4]") + "x", "JSON"),
            J("array at top", "[1,2,3]", "JSON object"),
            J("string at top", "\"inputs\"", "JSON object"),
            J("number at top", "42", "JSON object"),
            J("null at top", "null", "JSON object"),
            J("comments", "{/*c*/\"inputs\":[]}", "JSON"),
            J("missing inputs", """{"id":"x"}""", "'inputs' is missing"),
            J("empty inputs", """{"inputs":[]}""", "'inputs' is empty"),
            J("inputs is object", """{"inputs":{}}""", "'inputs' must be an array"),
            J("inputs is string", """{"inputs":"INPUT0"}""", "'inputs' must be an array"),
            J("inputs is null", """{"inputs":null}""", "'inputs' must be an array"),
            J("input is number", """{"inputs":[1]}""", "inputs[0] must be an object"),
            J("id is number", """{"id":5,"inputs":[]}""", "'id' must be a string"),
            J("parameters is array", """{"parameters":[],"inputs":[]}""", "'parameters' must be an object"),
            J("parameter value is object", """{"parameters":{"x":{}},"inputs":[]}""", "parameters.x"),
            J("binary_data_output not bool", """{"parameters":{"binary_data_output":"yes"},"inputs":[]}""", "binary_data_output"),
            J("depth bomb", """{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":""" + new string('[', 100) + new string(']', 100) + "}]}", "nested deeper"),
            J("depth bomb in parameters", """{"parameters":""" + string.Concat(Enumerable.Repeat("{\"a\":", 60)) + "1" + new string('}', 60) + "}", "parameters.a"),

            // :: Input fields
            J("input name missing", Input("\"datatype\":\"FP32\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "inputs[0].name"),
            J("input name empty", Input("\"name\":\"\",\"datatype\":\"FP32\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "inputs[0].name"),
            J("input name number", Input("\"name\":3,\"datatype\":\"FP32\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "inputs[0].name"),
            J("datatype missing", Input("\"name\":\"INPUT0\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "'datatype' is missing"),
            J("datatype lower case", Input("\"name\":\"INPUT0\",\"datatype\":\"fp32\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "'datatype'"),
            J("datatype triton name", Input("\"name\":\"INPUT0\",\"datatype\":\"TYPE_FP32\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "'datatype'"),
            J("datatype unknown", Input("\"name\":\"INPUT0\",\"datatype\":\"FLOAT\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "'datatype'"),
            J("datatype number", Input("\"name\":\"INPUT0\",\"datatype\":11,\"shape\":[1,4],\"data\":[1,2,3,4]"), "inputs[0].datatype"),
            J("datatype STRING", Input("\"name\":\"INPUT0\",\"datatype\":\"STRING\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "'datatype'"),
            J("shape missing", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"data\":[1,2,3,4]"), "'shape' is missing"),
            J("shape not array", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":4,\"data\":[1,2,3,4]"), "inputs[0].shape"),
            J("shape of strings", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[\"1\",\"4\"],\"data\":[1,2,3,4]"), "inputs[0].shape"),
            J("shape fractional", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1.5,4],\"data\":[1,2,3,4]"), "inputs[0].shape"),
            J("shape negative", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[-1,4],\"data\":[1,2,3,4]"), "negative dimension"),
            J("shape huge dim", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4000000000000],\"data\":[1,2,3,4]"), "'shape'"),
            J("shape product overflow", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[4294967296,4294967296,4],\"data\":[1]"), "overflow"),
            J("shape beyond int64", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[99999999999999999999,4],\"data\":[1]"), "inputs[0].shape"),
            J("shape nested", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[[1,4]],\"data\":[1,2,3,4]"), "inputs[0].shape"),
            J("data missing", Input(Good), "'data' is missing"),
            J("data is object", Input(Good + ",\"data\":{}"), "'data' must be an array"),
            J("data is number", Input(Good + ",\"data\":1"), "'data' must be an array"),
            J("data too short", Input(Good + ",\"data\":[1,2,3]"), "requires 4"),
            J("data too long", Input(Good + ",\"data\":[1,2,3,4,5]"), "more elements"),
            J("data empty", Input(Good + ",\"data\":[]"), "requires 4"),
            J("data strings for FP32", Input(Good + ",\"data\":[\"1\",\"2\",\"3\",\"4\"]"), "not a valid FP32"),
            J("data bools for FP32", Input(Good + ",\"data\":[true,false,true,false]"), "not a valid FP32"),
            J("data nulls", Input(Good + ",\"data\":[null,null,null,null]"), "not a valid FP32"),
            J("data objects", Input(Good + ",\"data\":[{},{},{},{}]"), "'data'"),
            J("data FP32 overflow", Input(Good + ",\"data\":[1e39,2,3,4]"), "not a valid FP32"),
            J("data nested too short", Input(Good + ",\"data\":[[1,2],[3]]"), "requires 4"),
            J("data INT32 fractional", Input("\"name\":\"INPUT0\",\"datatype\":\"INT32\",\"shape\":[1,4],\"data\":[1.5,2,3,4]"), "not a valid INT32"),
            J("data UINT8 negative", Input("\"name\":\"INPUT0\",\"datatype\":\"UINT8\",\"shape\":[1,4],\"data\":[-1,2,3,4]"), "not a valid UINT8"),
            J("data INT8 too big", Input("\"name\":\"INPUT0\",\"datatype\":\"INT8\",\"shape\":[1,4],\"data\":[128,2,3,4]"), "not a valid INT8"),
            J("data BOOL numbers", Input("\"name\":\"INPUT0\",\"datatype\":\"BOOL\",\"shape\":[1,4],\"data\":[1,0,1,0]"), "not a valid BOOL"),
            J("data BYTES numbers", Input("\"name\":\"INPUT0\",\"datatype\":\"BYTES\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "not a string"),
            J("data INT64 beyond range", Input("\"name\":\"INPUT0\",\"datatype\":\"INT64\",\"shape\":[1,1],\"data\":[9223372036854775808]"), "not a valid INT64"),
            J("duplicate input", """{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]},{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}""", "more than once"),
            J("data and binary size", Input(Good + ",\"data\":[1,2,3,4],\"parameters\":{\"binary_data_size\":16}"), "both 'data'"),
            J("outputs not array", Input(Good + ",\"data\":[1,2,3,4]").TrimEnd('}') + ",\"outputs\":{}}", "'outputs' must be an array"),
            J("output name missing", Input(Good + ",\"data\":[1,2,3,4]").TrimEnd('}') + ",\"outputs\":[{}]}", "outputs[0].name"),
            J("output binary_data not bool", Input(Good + ",\"data\":[1,2,3,4]").TrimEnd('}') + ",\"outputs\":[{\"name\":\"OUTPUT0\",\"parameters\":{\"binary_data\":1}}]}", "binary_data"),
            J("duplicate output", Input(Good + ",\"data\":[1,2,3,4]").TrimEnd('}') + ",\"outputs\":[{\"name\":\"OUTPUT0\"},{\"name\":\"OUTPUT0\"}]}", "more than once"),

            // :: Against the model (the engine's validation)
            J("unknown input", Input("\"name\":\"INPUTX\",\"datatype\":\"FP32\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "INPUTX"),
            J("wrong datatype for model", Input("\"name\":\"INPUT0\",\"datatype\":\"INT32\",\"shape\":[1,4],\"data\":[1,2,3,4]"), "INPUT0"),
            J("wrong shape for model", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,3],\"data\":[1,2,3]"), "INPUT0"),
            J("wrong rank for model", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[4],\"data\":[1,2,3,4]"), "INPUT0"),
            J("batch above max", "{\"inputs\":[" + string.Join(",", ((string[])["INPUT0", "INPUT1"]).Select(static n =>
                "{\"name\":\"" + n + "\",\"datatype\":\"FP32\",\"shape\":[9,16],\"data\":[" + string.Join(",", Enumerable.Repeat("1", 144)) + "]}")) + "]}",
                "batch", path: "v2/models/simple/infer"),
            J("missing second input", """{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}""", "INPUT1", path: "v2/models/simple/infer"),
            J("unknown output", Input(Good + ",\"data\":[1,2,3,4]").TrimEnd('}') + ",\"outputs\":[{\"name\":\"OUTPUTX\"}]}", "OUTPUTX"),

            // :: Binary extension
            B("binary size past body", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":32}"), 16, "binary_data_size"),
            B("binary size too small for shape", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":8}"), 8, "binary_data_size"),
            B("binary size huge", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":9223372036854775807}"), 16, "binary_data_size"),
            B("binary size negative", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":-16}"), 16, "binary_data_size"),
            B("binary size string", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":\"16\"}"), 16, "binary_data_size"),
            B("binary size fractional", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":16.5}"), 16, "binary_data_size"),
            B("binary extra bytes", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":16}"), 20, "binary data"),
            B("binary shape overflow", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[4611686018427387904,4],\"parameters\":{\"binary_data_size\":16}"), 16, "'shape'"),
            B("binary shape product times size overflow", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[2305843009213693952,2],\"parameters\":{\"binary_data_size\":16}"), 16, "'shape'"),
            B("binary bytes bad prefix", Input("\"name\":\"INPUT0\",\"datatype\":\"BYTES\",\"shape\":[1,1],\"parameters\":{\"binary_data_size\":6}"), 6, "BYTES"),
            B("header length past body", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":16}"), 16, "Inference-Header-Content-Length", headerLength: 100_000),
            B("header length negative", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":16}"), 16, "Inference-Header-Content-Length", headerLength: -5),
            B("header length non-numeric", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":16}"), 16, "Inference-Header-Content-Length", rawHeaderLength: "abc"),
            B("header length overflowing", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":16}"), 16, "Inference-Header-Content-Length", rawHeaderLength: "99999999999999999999999"),
            B("header length zero", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":16}"), 16, "empty", headerLength: 0),
            B("header length cuts json", Input("\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"parameters\":{\"binary_data_size\":16}"), 16, "JSON", headerLength: 10),

            // :: Routes, model names and sizes
            J("unknown model", Input(Good + ",\"data\":[1,2,3,4]"), "nope", path: "v2/models/nope/infer", status: 404),
            J("unknown version", Input(Good + ",\"data\":[1,2,3,4]"), "9", path: "v2/models/add_one/versions/9/infer", status: 404),
            J("version not numeric", Input(Good + ",\"data\":[1,2,3,4]"), "model_version", path: "v2/models/add_one/versions/latest/infer"),
            J("version zero", Input(Good + ",\"data\":[1,2,3,4]"), "model_version", path: "v2/models/add_one/versions/0/infer"),
            J("version negative", Input(Good + ",\"data\":[1,2,3,4]"), "model_version", path: "v2/models/add_one/versions/-1/infer"),
            J("traversal encoded", Input(Good + ",\"data\":[1,2,3,4]"), "model_name", path: "v2/models/%2e%2e%2fadd_one/infer"),
            // Kestrel decodes %2e and removes the resulting dot segment, so this reaches no endpoint at all.
            J("traversal dots", Input(Good + ",\"data\":[1,2,3,4]"), "endpoint", path: "v2/models/%2e%2e/infer", status: 404),
            J("encoded slash", Input(Good + ",\"data\":[1,2,3,4]"), "model_name", path: "v2/models/a%2fb/infer"),
            J("encoded backslash", Input(Good + ",\"data\":[1,2,3,4]"), "model_name", path: "v2/models/..%5cadd_one/infer"),
            // Kestrel itself refuses a NUL in the path (400, no body) before any endpoint runs.
            J("NUL in name", Input(Good + ",\"data\":[1,2,3,4]"), KestrelRejects, path: "v2/models/add%00one/infer", status: 400),
            J("absolute path name", Input(Good + ",\"data\":[1,2,3,4]"), "model_name", path: "v2/models/%2fetc%2fpasswd/infer"),
            J("double-encoded traversal", Input(Good + ",\"data\":[1,2,3,4]"), "model_name", path: "v2/models/%252e%252e%252f/infer"),
            J("control character", Input(Good + ",\"data\":[1,2,3,4]"), "model_name", path: "v2/models/a%0Ab/infer"),
            J("traversal in metadata", "", "model_name", path: "v2/models/..%2f..%2fetc/ready") with { Method = "GET", Body = null },
            J("traversal in config", "", "model_name", path: "v2/models/..%2fx/config") with { Method = "GET", Body = null },
            J("over-size body", "{\"inputs\":[{\"name\":\"INPUT0\",\"datatype\":\"FP32\",\"shape\":[1,4],\"data\":[" + string.Join(",", Enumerable.Repeat("1.0", 40_000)) + "]}]}", "larger than the limit", status: 413),
            J("repository index not object", "[true]", "ready", path: "v2/repository/index"),
            J("repository index ready not bool", """{"ready":"yes"}""", "'ready'", path: "v2/repository/index"),
            J("wrong method", "", "GET", path: Infer, status: 405) with { Method = "GET", Body = null },
            J("no such endpoint", "", "endpoint", path: "v2/nothing/here", status: 404) with { Method = "GET", Body = null },
        };

        var data = new TheoryData<MalformedCase>();
        foreach (var item in cases)
        {
            data.Add(item);
        }

        return data;
    }

    [Fact]
    public void Cases_Corpus_HoldsAtLeastSeventyDistinctCases()
    {
        var names = new List<string>();
        foreach (var row in Cases())
        {
            names.Add(row.Name);
        }


        Assert.True(names.Count >= 70, $"only {names.Count} cases");
        Assert.Equal(names.Count, names.Distinct().Count());
    }

    [Fact]
    public async Task Request_ChunkedBodyOverTheLimit_Answers413()
    {
        var body = new MemoryStream(new byte[200 * 1024]);
        using var content = new StreamContent(body);   // no length: sent chunked, so only the read can notice
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, Infer) { Content = content };
        request.Headers.TransferEncodingChunked = true;

        using var response = await fixture.Server.Client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("larger than the limit", await ReadErrorAsync(response));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Request_Malformed_Answers4xxNamingTheFieldAndServerStaysReady(MalformedCase malformed)
    {
        var client = fixture.Server.Client;
        using var request = new HttpRequestMessage(new HttpMethod(malformed.Method), malformed.Path);
        if (malformed.Body is not null)
        {
            request.Content = new ByteArrayContent(malformed.Body);
            request.Content.Headers.ContentType = new("application/json");
            if (malformed.HeaderLength is { } length)
            {
                request.Content.Headers.TryAddWithoutValidation("Inference-Header-Content-Length", length.ToString());
            }
            else if (malformed.RawHeaderLength is { } raw)
            {
                request.Content.Headers.TryAddWithoutValidation("Inference-Header-Content-Length", raw);
            }
        }

        using var response = await client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));

        var status = (int)response.StatusCode;
        var error = malformed.Expected == KestrelRejects ? "" : await ReadErrorAsync(response);
        output.WriteLine($"{status} {error}");
        Assert.True(status is >= 400 and < 500, $"{malformed.Name}: {status} {error}");
        if (malformed.Status is { } expectedStatus)
        {
            Assert.Equal(expectedStatus, status);
        }

        Assert.Contains(malformed.Expected, error, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("Exception", error);
        Assert.DoesNotContain(Path.GetTempPath(), error);
        using var ready = await client.GetAsync("v2/health/ready").WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }
}
