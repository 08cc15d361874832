using System.ClientModel;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using Sluice.Core.Generation;
using Sluice.Server.Tests.TestSupport;

namespace Sluice.Server.Tests.OpenAi;

/// <summary>One real server shared by the OpenAI and generate-extension tests: tiny-llama, MiniLM and add_one.</summary>
public sealed class OpenAiServerFixture : IAsyncLifetime
{
    public const string Decoder = "tiny-llama";
    public const string Embedder = "minilm";

    private readonly TestRepository _repository = new TestRepository().WithTinyLlama().WithMiniLm().WithAddOne();

    internal SluiceServer Server { get; private set; } = null!;

    public HttpClient Client => Server.Client;

    /// <summary>The server's own generation service, to tokenize as it does and to read its live figures.</summary>
    public IGenerationService Generation => Server.App.Services.GetRequiredService<IGenerationService>();

    /// <summary>Options for the official OpenAI client pointed at this server's <c>/v1</c>.</summary>
    public OpenAIClientOptions ClientOptions => new() { Endpoint = new Uri(Server.Addresses.Http, "v1"), NetworkTimeout = TimeSpan.FromSeconds(60) };

    public static ApiKeyCredential Key { get; } = new("sluice-needs-no-key");

    public async Task InitializeAsync()
    {
        Server = await SluiceServer.StartAsync(_repository, models: [Embedder, "add_one"]);
        Assert.True(Generation.TryGetModel(Decoder, out _), "tiny-llama did not load");
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _repository.Dispose();
    }
}

/// <summary>The test classes that share one <see cref="OpenAiServerFixture"/> (they run one after another).</summary>
[CollectionDefinition(Name)]
public sealed class OpenAiServerCollection : ICollectionFixture<OpenAiServerFixture>
{
    public const string Name = "openai-server";
}

/// <summary>Raw HTTP helpers for the OpenAI endpoints, independent of the server's code.</summary>
internal static class OpenAiHttp
{
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static StringContent Json(object body) => Json(JsonSerializer.Serialize(body));

    /// <summary>Posts and returns the status and the parsed JSON body.</summary>
    public static async Task<(int Status, JsonObject Body, HttpResponseMessage Response)> PostAsync(HttpClient client, string path, object body)
    {
        var response = await client.PostAsync(path, body is string text ? Json(text) : Json(body));
        var json = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonNode.Parse(json)!.AsObject(), response);
    }

    /// <summary>Asserts OpenAI's error shape with the given status, type and param; returns the error object.</summary>
    public static JsonObject AssertError((int Status, JsonObject Body, HttpResponseMessage Response) result, int status, string type, string? param)
    {
        var (actualStatus, body, response) = result;
        Assert.True(status == actualStatus, $"expected {status}, got {actualStatus}: {body.ToJsonString()}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = body["error"]!.AsObject();
        Assert.Equal(type, (string?)error["type"]);
        Assert.Equal(param, (string?)error["param"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)error["message"]));
        Assert.True(error.ContainsKey("code"));
        return error;
    }

    /// <summary>Posts with stream=true and reads the whole event stream: each <c>data:</c> payload in order (none when the answer is no event stream).</summary>
    public static async Task<(HttpResponseMessage Response, List<string> Events, string Raw)> StreamAsync(HttpClient client, string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(body) };
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var raw = await response.Content.ReadAsStringAsync();
        return (response, response.Content.Headers.ContentType?.MediaType == "text/event-stream" ? ParseEvents(raw) : [], raw);
    }

    /// <summary>Splits an event stream into its data payloads, asserting the framing: every event is one <c>data: </c> line and a blank line.</summary>
    public static List<string> ParseEvents(string raw)
    {
        Assert.EndsWith("\n\n", raw);
        var events = new List<string>();
        foreach (var block in raw[..^2].Split("\n\n"))
        {
            Assert.StartsWith("data: ", block);
            Assert.DoesNotContain('\n', block);
            events.Add(block["data: ".Length..]);
        }

        return events;
    }

    public static void AssertEventStreamHeaders(HttpResponseMessage response)
    {
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-cache", response.Headers.CacheControl?.ToString() ?? "");
    }

    public static MediaTypeHeaderValue JsonType { get; } = new("application/json");
}
