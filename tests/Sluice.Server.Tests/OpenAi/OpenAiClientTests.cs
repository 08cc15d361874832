using System.ClientModel;
using System.Text;
using OpenAI.Chat;
using OpenAI.Embeddings;
using OpenAI.Models;

namespace Sluice.Server.Tests.OpenAi;

/// <summary>The server through the official OpenAI .NET client: what an OpenAI user's code sees.</summary>
[Collection(OpenAiServerCollection.Name)]
public sealed class OpenAiClientTests(OpenAiServerFixture fixture)
{
    private ChatClient Chat => new(OpenAiServerFixture.Decoder, OpenAiServerFixture.Key, fixture.ClientOptions);

    private static ChatMessage[] Conversation =>
    [
        new SystemChatMessage("You are terse."),
        new UserChatMessage("Name three rivers."),
    ];

    [Fact]
    public async Task GetModels_ServingTinyLlamaAndMiniLm_ListsBoth()
    {
        var client = new OpenAIModelClient(OpenAiServerFixture.Key, fixture.ClientOptions);

        OpenAIModelCollection models = await client.GetModelsAsync();
        var tiny = await client.GetModelAsync(OpenAiServerFixture.Decoder);

        Assert.Contains(models, m => m.Id == OpenAiServerFixture.Decoder && m.OwnedBy == "sluice");
        Assert.Contains(models, m => m.Id == OpenAiServerFixture.Embedder);
        Assert.DoesNotContain(models, m => m.Id == "add_one");   // neither a decoder nor an embedding model
        Assert.Equal(OpenAiServerFixture.Decoder, tiny.Value.Id);
        Assert.True(tiny.Value.CreatedAt > DateTimeOffset.UnixEpoch);
    }

    [Fact]
    public async Task CompleteChat_GreedyWithMaxTokens_StopsAtLengthWithExactUsage()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 7 };

        ChatCompletion completion = await Chat.CompleteChatAsync(Conversation, options);

        var expectedPrompt = fixture.Generation.Tokenize(OpenAiServerFixture.Decoder, fixture.Generation.ApplyChatTemplate(OpenAiServerFixture.Decoder,
            [new("system", "You are terse."), new("user", "Name three rivers.")])).Length;
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.Equal(OpenAiServerFixture.Decoder, completion.Model);
        Assert.Equal(expectedPrompt, completion.Usage.InputTokenCount);
        Assert.Equal(7, completion.Usage.OutputTokenCount);
        Assert.Equal(expectedPrompt + 7, completion.Usage.TotalTokenCount);
        Assert.NotEmpty(completion.Content[0].Text);
    }

    [Fact]
    public async Task CompleteChatStreaming_Greedy_DeltasConcatenateToTheNonStreamedTextAndEndWithUsage()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 };
        ChatCompletion whole = await Chat.CompleteChatAsync(Conversation, options);

        var text = new StringBuilder();
        var updates = 0;
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        ChatMessageRole? role = null;
        await foreach (var update in Chat.CompleteChatStreamingAsync(Conversation, new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 }))
        {
            updates++;
            role ??= update.Role;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal(whole.Content[0].Text, text.ToString());
        Assert.True(updates >= 3, $"only {updates} updates: not streamed");
        Assert.Equal(ChatMessageRole.Assistant, role);
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.NotNull(usage);   // the client asks for stream_options.include_usage
        Assert.Equal(whole.Usage.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(12, usage.OutputTokenCount);
    }

    [Fact]
    public async Task CompleteChat_LogprobsWithTopAlternatives_OnePerTokenWithTheAskedAlternatives()
    {
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 5, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };

        ChatCompletion completion = await Chat.CompleteChatAsync(Conversation, options);

        Assert.Equal(5, completion.ContentTokenLogProbabilities.Count);
        Assert.All(completion.ContentTokenLogProbabilities, token =>
        {
            Assert.True(token.LogProbability <= 0);
            Assert.Equal(3, token.TopLogProbabilities.Count);
            // Greedy: the chosen token is the likeliest.
            Assert.Equal(token.TopLogProbabilities.Max(t => t.LogProbability), token.LogProbability, 4);
        });
    }

    [Fact]
    public async Task CompleteChat_SampledWithSeed_SameSeedSameText()
    {
        static ChatCompletionOptions Options(long seed)
        {
            var options = new ChatCompletionOptions { Temperature = 2f, MaxOutputTokenCount = 12 };
#pragma warning disable OPENAI001   // Seed is marked experimental in the client
            options.Seed = seed;
#pragma warning restore OPENAI001
            return options;
        }

        var first = (await Chat.CompleteChatAsync(Conversation, Options(1234))).Value.Content[0].Text;
        var again = (await Chat.CompleteChatAsync(Conversation, Options(1234))).Value.Content[0].Text;

        Assert.Equal(first, again);
    }

    [Fact]
    public async Task CompleteChat_UnknownModel_ClientSeesOpenAiErrorWith404()
    {
        var client = new ChatClient("no-such-model", OpenAiServerFixture.Key, fixture.ClientOptions);

        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync("hello"));

        Assert.Equal(404, error.Status);
        Assert.Contains("model_not_found", error.Message);
    }

    [Fact]
    public async Task GenerateEmbeddings_RelatedAndUnrelatedTexts_NormalizedVectorsWithRelatedCloser()
    {
        var client = new EmbeddingClient(OpenAiServerFixture.Embedder, OpenAiServerFixture.Key, fixture.ClientOptions);

        OpenAIEmbeddingCollection result = await client.GenerateEmbeddingsAsync(
            ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply on Monday."]);

        Assert.Equal(3, result.Count);
        Assert.Equal(OpenAiServerFixture.Embedder, result.Model);
        Assert.True(result.Usage.InputTokenCount > 10);
        var vectors = result.Select(e => e.ToFloats().ToArray()).ToArray();
        Assert.All(vectors, v => Assert.Equal(384, v.Length));
        Assert.All(vectors, v => Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 4));
        Assert.True(Dot(vectors[0], vectors[1]) > 0.6);
        Assert.True(Dot(vectors[0], vectors[2]) < 0.2);

        // The client asks for base64; the same texts as floats give the same numbers.
        var (status, floats, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/embeddings",
            new { model = OpenAiServerFixture.Embedder, input = "A man is eating food.", encoding_format = "float" });
        Assert.Equal(200, status);
        var asFloats = floats["data"]![0]!["embedding"]!.AsArray().Select(v => (float)v!).ToArray();
        Assert.Equal(vectors[0], asFloats);
    }

    private static double Dot(float[] a, float[] b) => a.Zip(b).Sum(p => (double)p.First * p.Second);
}
