using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Sluice.Core.Serving;
using Sluice.Server.Tests.TestSupport;

namespace Sluice.Server.Tests.OpenAi;

/// <summary>Every rejection of the OpenAI endpoints: status, OpenAI's error shape, and the offending field as <c>param</c>.</summary>
[Collection(OpenAiServerCollection.Name)]
public sealed class OpenAiErrorTests(OpenAiServerFixture fixture)
{
    private const string Bad = "invalid_request_error";

    public static TheoryData<string, string, string?> BadCompletions => new()
    {
        // body, expected param (null: none)
        { """{"model": "tiny-llama", "prompt": "hi", """, "v1/completions", null },
        { """[1, 2, 3]""", "v1/completions", null },
        { """{"prompt": "hi"}""", "v1/completions", "model" },
        { """{"model": 5, "prompt": "hi"}""", "v1/completions", "model" },
        { """{"model": "tiny-llama"}""", "v1/completions", "prompt" },
        { """{"model": "tiny-llama", "prompt": ["one", "two"]}""", "v1/completions", "prompt" },
        { """{"model": "tiny-llama", "prompt": []}""", "v1/completions", "prompt" },
        { """{"model": "tiny-llama", "prompt": {"text": "hi"}}""", "v1/completions", "prompt" },
        { """{"model": "tiny-llama", "prompt": [1, -2]}""", "v1/completions", "prompt" },
        { """{"model": "tiny-llama", "prompt": "hi", "temperature": 2.5}""", "v1/completions", "temperature" },
        { """{"model": "tiny-llama", "prompt": "hi", "temperature": -0.1}""", "v1/completions", "temperature" },
        { """{"model": "tiny-llama", "prompt": "hi", "temperature": "hot"}""", "v1/completions", "temperature" },
        { """{"model": "tiny-llama", "prompt": "hi", "top_p": 0}""", "v1/completions", "top_p" },
        { """{"model": "tiny-llama", "prompt": "hi", "top_p": 1.01}""", "v1/completions", "top_p" },
        { """{"model": "tiny-llama", "prompt": "hi", "top_k": -3}""", "v1/completions", "top_k" },
        { """{"model": "tiny-llama", "prompt": "hi", "top_k": 2.5}""", "v1/completions", "top_k" },
        { """{"model": "tiny-llama", "prompt": "hi", "n": 9}""", "v1/completions", "n" },
        { """{"model": "tiny-llama", "prompt": "hi", "n": 0}""", "v1/completions", "n" },
        { """{"model": "tiny-llama", "prompt": "hi", "logprobs": 6}""", "v1/completions", "logprobs" },
        { """{"model": "tiny-llama", "prompt": "hi", "logprobs": true}""", "v1/completions", "logprobs" },
        { """{"model": "tiny-llama", "prompt": "hi", "max_tokens": 0}""", "v1/completions", "max_tokens" },
        { """{"model": "tiny-llama", "prompt": "hi", "max_tokens": "many"}""", "v1/completions", "max_tokens" },
        { """{"model": "tiny-llama", "prompt": "hi", "seed": 1.5}""", "v1/completions", "seed" },
        { """{"model": "tiny-llama", "prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}""", "v1/completions", "stop" },
        { """{"model": "tiny-llama", "prompt": "hi", "stop": 7}""", "v1/completions", "stop" },
        { """{"model": "tiny-llama", "prompt": "hi", "stop": ["a", 1]}""", "v1/completions", "stop[1]" },
        { """{"model": "tiny-llama", "prompt": "hi", "echo": true}""", "v1/completions", "echo" },
        { """{"model": "tiny-llama", "prompt": "hi", "best_of": 3}""", "v1/completions", "best_of" },
        { """{"model": "tiny-llama", "prompt": "hi", "stream": "yes"}""", "v1/completions", "stream" },
        { """{"model": "tiny-llama", "prompt": "hi", "stream_options": {"include_usage": true}}""", "v1/completions", "stream_options" },
        { """{"model": "tiny-llama", "prompt": "hi", "stream": true, "stream_options": {"include_usage": 1}}""", "v1/completions", "stream_options.include_usage" },
        { """{"model": "tiny-llama", "prompt": "hi", "ignore_eos": "no"}""", "v1/completions", "ignore_eos" },
        { """{"model": "tiny-llama", "prompt": "hi", "frequency_penalty": 0.5}""", "v1/completions", "frequency_penalty" },
        { """{"model": "tiny-llama", "prompt": "hi", "logit_bias": {"50256": -100}}""", "v1/completions", "logit_bias" },
        { """{"model": "tiny-llama", "messages": []}""", "v1/chat/completions", "messages" },
        { """{"model": "tiny-llama"}""", "v1/chat/completions", "messages" },
        { """{"model": "tiny-llama", "messages": "hi"}""", "v1/chat/completions", "messages" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}, {"role": "wizard", "content": "x"}]}""", "v1/chat/completions", "messages[1].role" },
        { """{"model": "tiny-llama", "messages": [{"content": "hi"}]}""", "v1/chat/completions", "messages[0].role" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": 5}]}""", "v1/chat/completions", "messages[0].content" },
        { """{"model": "tiny-llama", "messages": [{"role": "user"}]}""", "v1/chat/completions", "messages[0].content" },
        { """{"model": "tiny-llama", "messages": ["hi"]}""", "v1/chat/completions", "messages[0]" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}""", "v1/chat/completions", "messages[0].content[0].type" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "logprobs": true, "top_logprobs": 6}""", "v1/chat/completions", "top_logprobs" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "top_logprobs": 2}""", "v1/chat/completions", "top_logprobs" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "logprobs": 3}""", "v1/chat/completions", "logprobs" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 0}""", "v1/chat/completions", "max_completion_tokens" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}""", "v1/chat/completions", "max_tokens" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}""", "v1/chat/completions", "temperature" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}""", "v1/chat/completions", "tools" },
        { """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}""", "v1/chat/completions", "response_format" },
        { """{"input": "hi"}""", "v1/embeddings", "model" },
        { """{"model": "minilm"}""", "v1/embeddings", "input" },
        { """{"model": "minilm", "input": [1, 2, 3]}""", "v1/embeddings", "input" },
        { """{"model": "minilm", "input": [[1, 2]]}""", "v1/embeddings", "input" },
        { """{"model": "minilm", "input": []}""", "v1/embeddings", "input" },
        { """{"model": "minilm", "input": ["fine", ""]}""", "v1/embeddings", "input[1]" },
        { """{"model": "minilm", "input": ["fine", {"x": 1}]}""", "v1/embeddings", "input[1]" },
        { """{"model": "minilm", "input": "hi", "encoding_format": "int8"}""", "v1/embeddings", "encoding_format" },
        { """{"model": "minilm", "input": "hi", "dimensions": 128}""", "v1/embeddings", "dimensions" },
    };

    [Theory]
    [MemberData(nameof(BadCompletions))]
    public async Task BadRequest_400NamingTheField(string body, string path, string? param)
    {
        var result = await OpenAiHttp.PostAsync(fixture.Client, path, body);

        OpenAiHttp.AssertError(result, 400, Bad, param);
    }

    [Fact]
    public async Task MaxTokensBeyondTheContext_400NamingMaxTokens()
    {
        var completion = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions", new { model = "tiny-llama", prompt = "hello there", max_tokens = 2047 });
        var chat = await OpenAiHttp.PostAsync(fixture.Client, "v1/chat/completions",
            new { model = "tiny-llama", messages = new[] { new { role = "user", content = "hi" } }, max_completion_tokens = 5000 });
        var fits = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions", new { model = "tiny-llama", prompt = new[] { 1, 2 }, max_tokens = 1, temperature = 0 });

        var error = OpenAiHttp.AssertError(completion, 400, Bad, "max_tokens");
        Assert.Contains("2048", (string)error["message"]!);
        OpenAiHttp.AssertError(chat, 400, Bad, "max_completion_tokens");
        Assert.Equal(200, fits.Status);
    }

    [Fact]
    public async Task PromptFillingTheContext_400NamingPrompt()
    {
        var prompt = Enumerable.Repeat(464, 2048).ToArray();

        var result = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions", new { model = "tiny-llama", prompt });

        OpenAiHttp.AssertError(result, 400, Bad, "prompt");
    }

    [Fact]
    public async Task TokenIdOutsideTheVocabulary_400NamingPrompt()
    {
        var result = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions", new { model = "tiny-llama", prompt = new[] { 1, 999_999 } });

        OpenAiHttp.AssertError(result, 400, Bad, "prompt");
    }

    [Fact]
    public async Task RoleTheTemplateDoesNotKnow_400NamingTheMessagesRole()
    {
        var result = await OpenAiHttp.PostAsync(fixture.Client, "v1/chat/completions",
            """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "42"}]}""");

        OpenAiHttp.AssertError(result, 400, Bad, "messages[1].role");
    }

    [Fact]
    public async Task EmbeddingTextLongerThanTheModelAccepts_400NamingItsIndex()
    {
        var result = await OpenAiHttp.PostAsync(fixture.Client, "v1/embeddings",
            new { model = "minilm", input = new[] { "short", string.Join(' ', Enumerable.Repeat("word", 600)) } });

        OpenAiHttp.AssertError(result, 400, Bad, "input[1]");
    }

    [Theory]
    [InlineData("v1/completions", """{"model": "no-such-model", "prompt": "hi"}""")]
    [InlineData("v1/completions", """{"model": "add_one", "prompt": "hi"}""")]
    [InlineData("v1/completions", """{"model": "minilm", "prompt": "hi"}""")]
    [InlineData("v1/chat/completions", """{"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}""")]
    [InlineData("v1/embeddings", """{"model": "no-such-model", "input": "hi"}""")]
    [InlineData("v1/embeddings", """{"model": "tiny-llama", "input": "hi"}""")]
    [InlineData("v1/embeddings", """{"model": "add_one", "input": "hi"}""")]
    public async Task UnknownModel_404ModelNotFound(string path, string body)
    {
        var result = await OpenAiHttp.PostAsync(fixture.Client, path, body);

        var error = OpenAiHttp.AssertError(result, 404, Bad, "model");
        Assert.Equal("model_not_found", (string?)error["code"]);
    }

    [Fact]
    public async Task GetUnknownModel_404ModelNotFound()
    {
        var response = await fixture.Client.GetAsync("v1/models/no-such-model");
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

        var error = OpenAiHttp.AssertError(((int)response.StatusCode, body, response), 404, Bad, "model");
        Assert.Equal("model_not_found", (string?)error["code"]);
    }

    [Fact]
    public async Task BodyOverTheLimit_413BeforeTheBodyIsRead()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await SluiceServer.StartAsync(repository, o => o.MaxRequestBodyBytes = 4096, models: ["add_one"]);
        var big = new string('x', 5000);

        // Expect: 100-continue lets the client learn the answer before sending the body, as the server refuses it unread.
        async Task<(int, JsonObject, HttpResponseMessage)> PostAsync(string path, object body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = OpenAiHttp.Json(body) };
            request.Headers.ExpectContinue = true;
            var response = await server.Client.SendAsync(request);
            return ((int)response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject(), response);
        }

        var completion = await PostAsync("v1/completions", new { model = "tiny-llama", prompt = big });
        var chat = await PostAsync("v1/chat/completions", new { model = "tiny-llama", messages = new[] { new { role = "user", content = big } } });
        var embeddings = await PostAsync("v1/embeddings", new { model = "minilm", input = big });
        var small = await PostAsync("v1/embeddings", new { model = "minilm", input = "small" });

        foreach (var result in new[] { completion, chat, embeddings })
        {
            var error = OpenAiHttp.AssertError(result, 413, Bad, null);
            Assert.Equal("request_too_large", (string?)error["code"]);
            Assert.Contains("4096", (string)error["message"]!);
        }

        OpenAiHttp.AssertError(small, 404, Bad, "model");   // under the limit the body is read (no minilm on this server)
    }

    [Fact]
    public async Task Draining_503WithRetryAfter()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await SluiceServer.StartAsync(repository, models: ["add_one"]);
        server.App.Services.GetRequiredService<ServerLifecycle>().BeginDrain();

        foreach (var (path, body) in new[]
        {
            ("v1/completions", """{"model": "tiny-llama", "prompt": "hi"}"""),
            ("v1/chat/completions", """{"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}]}"""),
            ("v1/embeddings", """{"model": "minilm", "input": "hi"}"""),
        })
        {
            var result = await OpenAiHttp.PostAsync(server.Client, path, body);

            var error = OpenAiHttp.AssertError(result, 503, "server_error", null);
            Assert.Equal("server_shutting_down", (string?)error["code"]);
            Assert.True(result.Response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        }
    }

    [Fact]
    public async Task QueueFull_503WithRetryAfterAndTheAdmittedStreamsUnharmed()
    {
        using var repository = new TestRepository().WithTinyLlama(config => config
            .Replace("max_running: 64", "max_running: 1")
            .Replace("max_waiting: 1024", "max_waiting: 1"));
        await using var server = await SluiceServer.StartAsync(repository);

        // Eight at once: one runs, at most one waits for its slot, the others find the waiting queue full.
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => OpenAiHttp.StreamAsync(server.Client, "v1/completions",
            new { model = "tiny-llama", prompt = "hello", max_tokens = 2040, ignore_eos = true, stream = true })));

        var refused = results.Where(r => (int)r.Response.StatusCode == 503).ToList();
        var served = results.Where(r => (int)r.Response.StatusCode == 200).ToList();
        Assert.Equal(8, refused.Count + served.Count);
        Assert.NotEmpty(served);
        Assert.NotEmpty(refused);
        foreach (var (response, _, raw) in refused)
        {
            var body = JsonNode.Parse(raw)!.AsObject();
            var error = OpenAiHttp.AssertError((503, body, response), 503, "server_error", null);
            Assert.Equal("overloaded", (string?)error["code"]);
            Assert.True(response.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        }

        foreach (var (_, events, _) in served)
        {
            Assert.Equal("[DONE]", events[^1]);
            var usage = JsonNode.Parse(events[^2])!["choices"]![0]!;
            Assert.Equal("length", (string)usage["finish_reason"]!);
        }
    }
}
