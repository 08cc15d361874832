using System.Net;
using System.Text.Json;
using Sluice.Server.Tests.TestSupport;

namespace Sluice.Server.Tests.Telemetry;

/// <summary><c>POST /v2/models/{m}/profile</c> on MiniLM: per-node and per-op-type times from ONNX Runtime's profiler.</summary>
public sealed class ProfileEndpointTests
{
    [Fact]
    public async Task Profile_MiniLmAfterRequests_ReportsNodesAndOpTypesFromRecentInputs()
    {
        using var repository = new TestRepository().WithMiniLm();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "minilm");
        using var infer = await server.Client.PostAsync("v2/models/minilm/infer", KServeHttp.Json("""
            {"inputs":[
              {"name":"input_ids","shape":[1,8],"datatype":"INT64","data":[101,7592,2088,2003,1037,3231,1012,102]},
              {"name":"attention_mask","shape":[1,8],"datatype":"INT64","data":[1,1,1,1,1,1,1,1]},
              {"name":"token_type_ids","shape":[1,8],"datatype":"INT64","data":[0,0,0,0,0,0,0,0]}]}
            """));
        Assert.Equal(HttpStatusCode.OK, infer.StatusCode);

        using var response = await server.Client.PostAsync("v2/models/minilm/profile?runs=3&warmup=1&top=5", null).WaitAsync(TimeSpan.FromSeconds(120));

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        Assert.Equal("minilm", root.GetProperty("model").GetString());
        Assert.Equal("1", root.GetProperty("version").GetString());
        Assert.Equal("recent", root.GetProperty("input_source").GetString());
        Assert.Equal(3, root.GetProperty("runs").GetInt32());
        var top = root.GetProperty("top_nodes").EnumerateArray().ToList();
        Assert.Equal(5, top.Count);
        var totals = top.Select(n => n.GetProperty("total_us").GetDouble()).ToList();
        Assert.Equal(totals.OrderByDescending(t => t), totals);
        var opTypes = root.GetProperty("op_types").EnumerateArray().ToList();
        Assert.Contains(opTypes, o => o.GetProperty("name").GetString() is "MatMul" or "FusedMatMul" or "Attention" or "MultiHeadAttention" or "QAttention");
        Assert.Equal(1.0, opTypes.Sum(o => o.GetProperty("share").GetDouble()), 2);   // every kernel belongs to one op type
        Assert.All(top, n => Assert.Equal(3, n.GetProperty("count").GetInt32()));   // each node ran once per measured run
    }

    [Fact]
    public async Task Profile_TableFormatAndSyntheticInputs_ReadableTable()
    {
        using var repository = new TestRepository().WithMiniLm();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "minilm");

        using var response = await server.Client.PostAsync("v2/models/minilm/profile?runs=2&warmup=0&sequence_length=16&format=table", null)
            .WaitAsync(TimeSpan.FromSeconds(120));

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("model minilm version 1: 2 runs (synthetic inputs)", text);
        Assert.Contains("operator types", text);
        Assert.Contains("share", text);
    }

    [Fact]
    public async Task Profile_UnknownModelOrBadQuery_ErrorNamesTheField()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "add_one");

        using var unknown = await server.Client.PostAsync("v2/models/nope/profile", null);
        using var bad = await server.Client.PostAsync("v2/models/add_one/profile?runs=0", null);

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("runs", await KServeHttp.ReadErrorAsync(bad));
    }

    [Fact]
    public async Task LiveProfiling_OneInTwoBatches_ExportsTopNodesOnly()
    {
        using var repository = new TestRepository().WithMiniLm();
        await using var server = await TelemetryServer.StartAsync(repository.Path, configure: o => o.ProfileSampleRate = 2, models: "minilm");
        for (var i = 0; i < 4; i++)
        {
            using var infer = await server.Client.PostAsync("v2/models/minilm/infer", KServeHttp.Json("""
                {"inputs":[
                  {"name":"input_ids","shape":[1,4],"datatype":"INT64","data":[101,7592,2088,102]},
                  {"name":"attention_mask","shape":[1,4],"datatype":"INT64","data":[1,1,1,1]},
                  {"name":"token_type_ids","shape":[1,4],"datatype":"INT64","data":[0,0,0,0]}]}
                """));
            Assert.Equal(HttpStatusCode.OK, infer.StatusCode);
        }

        var scraped = await server.ScrapeUntilAsync(s => s.Find("sluice_layer_duration_seconds").Any(), "a live profile");

        var layers = scraped.Find("sluice_layer_duration_seconds", ("model", "minilm"), ("version", "1")).ToList();
        Assert.InRange(layers.Count, 1, Sluice.Server.Telemetry.LiveProfiler.TopNodes);
        Assert.All(layers, l => Assert.Equal(["model", "node", "op_type", "version"], l.Labels.Keys.Order()));
        Assert.All(layers, l => Assert.True(l.Value > 0 && l.Value < 1, $"{l.Labels["node"]}: {l.Value} s"));
    }
}
