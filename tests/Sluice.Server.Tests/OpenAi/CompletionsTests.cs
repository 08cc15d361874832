using System.Net.Http.Headers;
using System.Text.Json.Nodes;

namespace Sluice.Server.Tests.OpenAi;

/// <summary><c>/v1/completions</c> and the wire format of streams, read with a plain HTTP client.</summary>
[Collection(OpenAiServerCollection.Name)]
public sealed class CompletionsTests(OpenAiServerFixture fixture)
{
    private const string Model = OpenAiServerFixture.Decoder;
    private const string Prompt = "The quick brown fox";

    [Fact]
    public async Task Completion_GreedyDefaultMaxTokens_SixteenTokensFinishLengthInOpenAiShape()
    {
        var (status, body, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions", new { model = Model, prompt = Prompt, temperature = 0, ignore_eos = true });

        Assert.Equal(200, status);
        Assert.StartsWith("cmpl-", (string)body["id"]!);
        Assert.Equal("text_completion", (string)body["object"]!);
        Assert.Equal(Model, (string)body["model"]!);
        Assert.InRange((long)body["created"]!, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        var choice = body["choices"]!.AsArray().Single()!.AsObject();
        Assert.Equal(0, (int)choice["index"]!);
        Assert.Equal("length", (string)choice["finish_reason"]!);
        Assert.True(choice.ContainsKey("logprobs") && choice["logprobs"] is null);
        Assert.IsType<string>((string?)choice["text"]);
        var usage = body["usage"]!;
        var promptTokens = fixture.Generation.Tokenize(Model, Prompt).Length;
        Assert.Equal(promptTokens, (int)usage["prompt_tokens"]!);
        Assert.Equal(16, (int)usage["completion_tokens"]!);
        Assert.Equal(promptTokens + 16, (int)usage["total_tokens"]!);
    }

    [Fact]
    public async Task Completion_Streamed_FramedAsServerSentEventsEndingInDoneAndEqualToTheWholeText()
    {
        var request = new { model = Model, prompt = Prompt, temperature = 0, max_tokens = 10, ignore_eos = true };
        var (_, whole, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions", request);

        var (response, events, _) = await OpenAiHttp.StreamAsync(fixture.Client, "v1/completions",
            new { model = Model, prompt = Prompt, temperature = 0, max_tokens = 10, ignore_eos = true, stream = true, stream_options = new { include_usage = true } });

        OpenAiHttp.AssertEventStreamHeaders(response);
        Assert.Equal("[DONE]", events[^1]);
        Assert.Single(events, e => e == "[DONE]");
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!.AsObject()).ToList();
        Assert.All(chunks, c => Assert.Equal("text_completion", (string)c["object"]!));
        Assert.Single(chunks.Select(c => (string)c["id"]!).Distinct());
        var usageChunk = chunks[^1];
        Assert.Empty(usageChunk["choices"]!.AsArray());
        Assert.Equal(10, (int)usageChunk["usage"]!["completion_tokens"]!);
        Assert.Equal((int)whole["usage"]!["prompt_tokens"]!, (int)usageChunk["usage"]!["prompt_tokens"]!);
        var textChunks = chunks[..^1];
        Assert.All(textChunks, c => Assert.True(c.ContainsKey("usage") && c["usage"] is null));   // include_usage: null until the last
        var finishes = textChunks.Select(c => (string?)c["choices"]![0]!["finish_reason"]).ToList();
        Assert.Equal("length", finishes[^1]);
        Assert.All(finishes[..^1], f => Assert.Null(f));
        var streamed = string.Concat(textChunks.Select(c => (string)c["choices"]![0]!["text"]!));
        Assert.Equal((string)whole["choices"]![0]!["text"]!, streamed);
        Assert.True(textChunks.Count >= 3, $"{textChunks.Count} chunks: not streamed token by token");
    }

    [Fact]
    public async Task Completion_StreamedWithoutUsageOption_NoUsageChunkAndNoUsageField()
    {
        var (response, events, _) = await OpenAiHttp.StreamAsync(fixture.Client, "v1/completions",
            new { model = Model, prompt = Prompt, max_tokens = 4, ignore_eos = true, stream = true });

        OpenAiHttp.AssertEventStreamHeaders(response);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!.AsObject()).ToList();
        Assert.All(chunks, c => Assert.False(c.ContainsKey("usage")));
        Assert.All(chunks, c => Assert.Single(c["choices"]!.AsArray()));
    }

    [Fact]
    public async Task Completion_TokenIdPrompt_CountsThoseTokensAsThePrompt()
    {
        var (status, body, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions",
            new { model = Model, prompt = new[] { 464, 2068, 7586, 21831 }, max_tokens = 3, temperature = 0, ignore_eos = true });
        var (_, nested, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions",
            new { model = Model, prompt = new[] { new[] { 464, 2068, 7586, 21831 } }, max_tokens = 3, temperature = 0, ignore_eos = true });
        var (_, single, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions",
            new { model = Model, prompt = new[] { "The quick brown fox" }, max_tokens = 3, temperature = 0, ignore_eos = true });

        Assert.Equal(200, status);
        Assert.Equal(4, (int)body["usage"]!["prompt_tokens"]!);
        Assert.Equal((string)body["choices"]![0]!["text"]!, (string)nested["choices"]![0]!["text"]!);
        Assert.Equal((int)single["usage"]!["prompt_tokens"]!, fixture.Generation.Tokenize(Model, "The quick brown fox").Length);
    }

    [Fact]
    public async Task Completion_StopSequenceFromTheGreedyText_EndsBeforeItWithFinishStop()
    {
        var (_, free, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions", new { model = Model, prompt = Prompt, max_tokens = 24, temperature = 0, ignore_eos = true });
        var text = (string)free["choices"]![0]!["text"]!;
        Assert.True(text.Length >= 8, $"greedy text too short to cut: '{text}'");
        var stop = text.Substring(text.Length / 2, 3);

        var (status, body, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions",
            new { model = Model, prompt = Prompt, max_tokens = 24, temperature = 0, ignore_eos = true, stop = new[] { stop } });

        Assert.Equal(200, status);
        var choice = body["choices"]![0]!;
        Assert.Equal("stop", (string)choice["finish_reason"]!);
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], (string)choice["text"]!);
    }

    [Fact]
    public async Task Completion_Logprobs_ParallelArraysOnePerToken()
    {
        var (status, body, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions",
            new { model = Model, prompt = Prompt, max_tokens = 5, logprobs = 2, temperature = 0, ignore_eos = true });

        Assert.Equal(200, status);
        var logprobs = body["choices"]![0]!["logprobs"]!;
        var tokens = logprobs["tokens"]!.AsArray();
        Assert.Equal(5, tokens.Count);
        Assert.Equal(5, logprobs["token_logprobs"]!.AsArray().Count);
        Assert.All(logprobs["token_logprobs"]!.AsArray(), v => Assert.True((double)v! <= 0));
        Assert.All(logprobs["top_logprobs"]!.AsArray(), top => Assert.InRange(top!.AsObject().Count, 1, 2));
        var offsets = logprobs["text_offset"]!.AsArray().Select(v => (int)v!).ToArray();
        Assert.Equal(0, offsets[0]);
        Assert.Equal(offsets.Order(), offsets);
    }

    [Fact]
    public async Task Completion_SeveralChoicesStreamed_EachIndexFinishesOnceAndUsageCountsAll()
    {
        var (response, events, _) = await OpenAiHttp.StreamAsync(fixture.Client, "v1/completions",
            new { model = Model, prompt = Prompt, max_tokens = 5, n = 3, seed = 7, ignore_eos = true, stream = true, stream_options = new { include_usage = true } });

        OpenAiHttp.AssertEventStreamHeaders(response);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!.AsObject()).ToList();
        var finished = chunks.Where(c => c["choices"]!.AsArray().Count == 1 && c["choices"]![0]!["finish_reason"] is not null)
            .Select(c => (int)c["choices"]![0]!["index"]!).Order().ToArray();
        Assert.Equal([0, 1, 2], finished);
        Assert.Equal(15, (int)chunks[^1]["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task Completion_SeveralChoicesWithSeed_ReproducibleDifferentAndCountedTogether()
    {
        // At temperature 2 the tiny model's long tail carries real mass, so different seeds sample different texts.
        var request = new { model = Model, prompt = Prompt, n = 3, seed = 42, temperature = 2, max_tokens = 16, ignore_eos = true };

        var (status, first, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions", request);
        var (_, second, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions", request);
        var (_, seeded43, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions", request with { n = 1, seed = 43 });

        Assert.Equal(200, status);
        var choices = first["choices"]!.AsArray();
        Assert.Equal([0, 1, 2], choices.Select(c => (int)c!["index"]!));
        var texts = choices.Select(c => (string)c!["text"]!).ToArray();
        Assert.Equal(texts, second["choices"]!.AsArray().Select(c => (string)c!["text"]!));
        Assert.Equal(3, texts.Distinct().Count());
        Assert.Equal(texts[1], (string)seeded43["choices"]![0]!["text"]!);   // choice i samples with seed + i
        Assert.Equal(48, (int)first["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task Chat_ContentAsTextParts_SameAsThePlainString()
    {
        var (status, parts, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/chat/completions", new
        {
            model = Model, max_tokens = 6, temperature = 0,
            messages = new object[] { new { role = "developer", content = "Be brief." }, new { role = "user", content = new[] { new { type = "text", text = "Hel" }, new { type = "text", text = "lo" } } } },
        });
        var (_, plain, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/chat/completions", new
        {
            model = Model, max_tokens = 6, temperature = 0,
            messages = new object[] { new { role = "system", content = "Be brief." }, new { role = "user", content = "Hello" } },
        });

        Assert.Equal(200, status);
        Assert.Equal("chat.completion", (string)parts["object"]!);
        Assert.Equal((int)plain["usage"]!["prompt_tokens"]!, (int)parts["usage"]!["prompt_tokens"]!);
        Assert.Equal((string)plain["choices"]![0]!["message"]!["content"]!, (string)parts["choices"]![0]!["message"]!["content"]!);
    }

    [Fact]
    public async Task Chat_Streamed_FirstChunkOfEachChoiceCarriesTheAssistantRole()
    {
        var (response, events, _) = await OpenAiHttp.StreamAsync(fixture.Client, "v1/chat/completions",
            new { model = Model, messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 4, n = 2, stream = true, ignore_eos = true });

        OpenAiHttp.AssertEventStreamHeaders(response);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!.AsObject()).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", (string)c["object"]!));
        foreach (var index in new[] { 0, 1 })
        {
            var mine = chunks.Select(c => c["choices"]![0]!).Where(c => (int)c["index"]! == index).ToList();
            Assert.Equal("assistant", (string)mine[0]["delta"]!["role"]!);
            Assert.All(mine.Skip(1), c => Assert.Null(c["delta"]!["role"]));
            Assert.Equal("length", (string)mine[^1]["finish_reason"]!);
            Assert.All(mine[..^1], c => Assert.Null(c["finish_reason"]));
        }
    }

    [Fact]
    public async Task Completion_UnknownFieldsLikeTheOfficialClientsSend_AreIgnored()
    {
        var (status, body, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions",
            """{"model": "tiny-llama", "prompt": "hi", "max_tokens": 2, "user": "u-1", "frequency_penalty": 0, "presence_penalty": 0, "best_of": 1, "metadata": {"a": 1}, "something_new": [1, 2]}""");

        Assert.Equal(200, status);
        Assert.NotNull(body["choices"]);
    }

    [Fact]
    public async Task Completion_ClientDisconnectsMidStream_SequenceCancelledAndNothingLeftRunning()
    {
        var before = fixture.Generation.GetStats().Single(s => s.Model == Model);
        using var client = new HttpClient { BaseAddress = fixture.Client.BaseAddress };
        using (var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        {
            // Eight long choices share each decode step, so generation outlasts noticing the disconnect even on a busy machine.
            Content = OpenAiHttp.Json(new { model = Model, prompt = Prompt, max_tokens = 2000, n = 8, ignore_eos = true, stream = true }),
        })
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(200, (int)response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var data = 0;
            while (data < 3 && await reader.ReadLineAsync() is { } line)
            {
                data += line.StartsWith("data: {", StringComparison.Ordinal) ? 1 : 0;
            }

            Assert.Equal(3, data);
        }   // the response is dropped unread: the connection closes

        client.Dispose();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        Core.Generation.GenerationModelStats now;
        do
        {
            await Task.Delay(50);
            now = fixture.Generation.GetStats().Single(s => s.Model == Model);
        }
        while ((now.Running > 0 || now.Waiting > 0 || now.Cancelled < before.Cancelled + 8) && DateTime.UtcNow < deadline);

        Assert.Equal(0, now.Running);
        Assert.Equal(0, now.Waiting);
        Assert.Equal(before.Cancelled + 8, now.Cancelled);
        Assert.Equal(before.Finished, now.Finished);
        Assert.Equal(now.Admitted, now.Finished + now.Cancelled + now.Failed);
        Assert.Equal(0, now.KvCacheBlocksUsed);
    }

    [Fact]
    public async Task UnknownV1Path_OpenAiShaped404()
    {
        var response = await fixture.Client.GetAsync("v1/assistants");

        Assert.Equal(404, (int)response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("invalid_request_error", (string)body["error"]!["type"]!);
        Assert.Equal(new MediaTypeHeaderValue("application/json").MediaType, response.Content.Headers.ContentType?.MediaType);
    }
}
