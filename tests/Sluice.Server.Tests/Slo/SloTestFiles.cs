using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Sluice.Onnx.Graph;

namespace Sluice.Server.Tests.Slo;

/// <summary>A temporary folder with a model repository, an SLO spec and a data folder; deleted on dispose.</summary>
internal sealed class SloWorkspace : IDisposable
{
    public SloWorkspace()
    {
        Root = Directory.CreateTempSubdirectory("sluice-slo-").FullName;
        Repository = Directory.CreateDirectory(Path.Combine(Root, "models")).FullName;
        DataDirectory = Path.Combine(Root, "data");
    }

    public string Root { get; }
    public string Repository { get; }
    public string DataDirectory { get; }

    /// <summary>
    /// Model <paramref name="name"/> in two versions with the same signature (FP32 INPUT0 [-1, 256] → OUTPUT0 [-1, 256]):
    /// version 1 is <see cref="SampleModels.WriteSlow"/> with no hidden layers (about half a million multiply-adds per row),
    /// version 2 with <paramref name="slowIterations"/> of them (a million each), so a latency threshold can sit between them.
    /// </summary>
    public SloWorkspace WithFastAndSlowVersions(string name, int slowIterations)
    {
        SampleModels.WriteSlow(Path.Combine(Repository, name, "1", "model.onnx"), iterations: 0);
        SampleModels.WriteSlow(Path.Combine(Repository, name, "2", "model.onnx"), slowIterations);
        File.WriteAllText(Path.Combine(Repository, name, "config.pbtxt"), $$"""
            name: "{{name}}"
            platform: "onnxruntime_onnx"
            version_policy: { all { } }
            """);
        return this;
    }

    public SloWorkspace WithAddOne(string name)
    {
        SampleModels.WriteAddOne(Path.Combine(Repository, name, "1", "model.onnx"));
        return this;
    }

    public string WriteSpec(string yaml, string fileName = "slo.yaml")
    {
        var path = Path.Combine(Root, fileName);
        File.WriteAllText(path, yaml);
        return path;
    }

    /// <summary>A KServe v2 JSON infer body for the models of <see cref="WithFastAndSlowVersions"/>: one row of zeros.</summary>
    public static string OneRowRequest() =>
        new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "INPUT0",
                ["datatype"] = "FP32",
                ["shape"] = new JsonArray(1, SampleModels.SlowInputWidth),
                ["data"] = new JsonArray(Enumerable.Repeat(0, SampleModels.SlowInputWidth).Select(static v => (JsonNode)v).ToArray()),
            }),
        }.ToJsonString();

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a model file still mapped by a session being disposed; the temp folder is cleaned later
        }
    }
}

/// <summary>A real HTTP receiver (Kestrel on 127.0.0.1:0) standing in for Alertmanager's webhook receiver: records every
/// POSTed body and answers 500 to the first <c>failFirst</c> of them (415 to a body that is not JSON).</summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _failuresLeft;
    private int _posts;

    private WebhookReceiver(WebApplication app, int failFirst)
    {
        _app = app;
        _failuresLeft = failFirst;
    }

    /// <summary>Bodies answered with 200, in order.</summary>
    public Channel<JsonObject> Accepted { get; } = Channel.CreateUnbounded<JsonObject>();

    /// <summary>Every POST received, failed ones included.</summary>
    public int Posts => Volatile.Read(ref _posts);

    public Uri Url { get; private set; } = null!;

    public static async Task<WebhookReceiver> StartAsync(int failFirst)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, failFirst);
        app.MapPost("/hook", receiver.ReceiveAsync);
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        receiver.Url = new Uri(new Uri(app.Urls.Single()), "/hook");
        return receiver;
    }

    private async Task ReceiveAsync(HttpContext context)
    {
        Interlocked.Increment(ref _posts);
        var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
        if (Interlocked.Decrement(ref _failuresLeft) >= 0)
        {
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }

        if (context.Request.ContentType?.StartsWith("application/json", StringComparison.Ordinal) != true)
        {
            context.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;   // Alertmanager sends JSON; so must we
            return;
        }

        await Accepted.Writer.WriteAsync(JsonNode.Parse(body)!.AsObject());
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await _app.DisposeAsync();
    }
}
