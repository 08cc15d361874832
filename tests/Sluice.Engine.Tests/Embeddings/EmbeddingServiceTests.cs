using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.ML.Tokenizers;
using Sluice.Core.Generation;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Core.Tensors;
using Sluice.Engine.Embeddings;
using Sluice.Engine.Hosting;
using Sluice.Engine.Repository;
using Sluice.Engine.Tests.TestSupport;

namespace Sluice.Engine.Tests.Embeddings;

/// <summary>The engine with the demo MiniLM (real model, real ONNX Runtime) and an add_one model that is no embedding model.</summary>
public sealed class EmbeddingEngineFixture : IAsyncLifetime
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _repo = new();
    private ServiceProvider? _provider;

    public IServiceProvider Services => _provider ?? throw new InvalidOperationException("not started");
    public string RepositoryPath => _repo.Path;

    public async Task InitializeAsync()
    {
        DemoRepository.WriteMiniLm(_repo.Path);
        Repos.WriteAddOne(_repo.Path, "add_one", 1);
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory, NullLoggerFactory>();
        services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
        services.AddSluiceEngine(o => o.RepositoryPath = _repo.Path);
        services.AddSluiceEmbeddings();
        _provider = services.BuildServiceProvider();
        _provider.GetRequiredService<IStartupValidator>().Validate();
        foreach (var hosted in _provider.GetServices<IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None).WaitAsync(Safety);
        }
    }

    public async Task DisposeAsync()
    {
        if (_provider is not null)
        {
            foreach (var hosted in _provider.GetServices<IHostedService>().Reverse())
            {
                await hosted.StopAsync(CancellationToken.None).WaitAsync(Safety);
            }

            await _provider.DisposeAsync();
        }

        _repo.Dispose();
    }
}

public sealed class EmbeddingServiceTests(EmbeddingEngineFixture fixture) : IClassFixture<EmbeddingEngineFixture>
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(60);

    private IEmbeddingService Embeddings => fixture.Services.GetRequiredService<IEmbeddingService>();

    [Fact]
    public void Models_DemoRepository_ListsMiniLmButNotModelsWithoutVocabulary()
    {
        Assert.Equal(["minilm"], Embeddings.Models);
    }

    [Fact]
    public async Task EmbedAsync_RelatedAndUnrelatedSentences_RelatedAreFarCloser()
    {
        string[] texts =
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The stock market fell sharply on Monday.",
            "Quantum computers use qubits.",
        ];

        var result = await Embeddings.EmbedAsync("minilm", texts, CancellationToken.None).WaitAsync(Safety);

        Assert.Equal(4, result.Embeddings.Count);
        Assert.All(result.Embeddings, e => Assert.Equal(384, e.Length));
        Assert.All(result.Embeddings, e => Assert.Equal(1.0, Math.Sqrt(e.Sum(x => (double)x * x)), 4));
        var related = Cosine(result.Embeddings[0], result.Embeddings[1]);
        var unrelated = Cosine(result.Embeddings[0], result.Embeddings[2]);
        var unrelated2 = Cosine(result.Embeddings[0], result.Embeddings[3]);
        // all-MiniLM-L6-v2 scores these pairs about 0.7 and about 0.0 (sentence-transformers' own examples).
        Assert.InRange(related, 0.6, 0.95);
        Assert.InRange(unrelated, -0.2, 0.2);
        Assert.InRange(unrelated2, -0.2, 0.2);
    }

    [Fact]
    public async Task EmbedAsync_TextsOfMixedLengths_EqualManualPoolingOfTheRawModelOutputPerText()
    {
        string[] texts =
        [
            "Sluice serves models.",
            "A considerably longer sentence, so the shorter ones in the same batch are padded with several positions.",
            "Hi",
        ];
        var result = await Embeddings.EmbedAsync("minilm", texts, CancellationToken.None).WaitAsync(Safety);

        var tokenizer = BertTokenizer.Create(Path.Combine(fixture.RepositoryPath, "minilm", "vocab.txt"));
        var inference = fixture.Services.GetRequiredService<IInferenceService>();
        var totalTokens = 0;
        for (var i = 0; i < texts.Length; i++)
        {
            var ids = tokenizer.EncodeToIds(texts[i]).Select(static id => (long)id).ToArray();
            totalTokens += ids.Length;
            Assert.Equal(101, ids[0]);    // [CLS]
            Assert.Equal(102, ids[^1]);   // [SEP]
            var response = await inference.InferAsync(new InferenceRequest
            {
                ModelName = "minilm",
                Inputs =
                [
                    TensorData.From<long>("input_ids", [1, ids.Length], ids),
                    TensorData.From<long>("attention_mask", [1, ids.Length], Enumerable.Repeat(1L, ids.Length).ToArray()),
                    TensorData.From<long>("token_type_ids", [1, ids.Length], new long[ids.Length]),
                ],
            }, CancellationToken.None).AsTask().WaitAsync(Safety);
            var hidden = response.Outputs.Single(o => o.Name == "last_hidden_state").ToArray<float>();

            // Mean over every token (no padding here), then divide by the Euclidean norm.
            var mean = new double[384];
            for (var t = 0; t < ids.Length; t++)
            {
                for (var h = 0; h < 384; h++)
                {
                    mean[h] += hidden[t * 384 + h] / (double)ids.Length;
                }
            }

            var norm = Math.Sqrt(mean.Sum(static x => x * x));
            var embedding = result.Embeddings[i];
            for (var h = 0; h < 384; h++)
            {
                Assert.True(Math.Abs(mean[h] / norm - embedding[h]) < 1e-4, $"text {i} dim {h}: {mean[h] / norm} vs {embedding[h]}");
            }
        }

        Assert.Equal(totalTokens, result.PromptTokens);
    }

    [Fact]
    public async Task EmbedAsync_MoreTextsThanMaxBatchSize_EmbedsEveryTextInItsOrder()
    {
        var texts = Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? $"number {i}" : $"a somewhat longer text about the number {i}").ToArray();

        var result = await Embeddings.EmbedAsync("minilm", texts, CancellationToken.None).WaitAsync(Safety);
        var single = await Embeddings.EmbedAsync("minilm", [texts[37]], CancellationToken.None).WaitAsync(Safety);

        Assert.Equal(40, result.Embeddings.Count);
        Assert.True(Cosine(result.Embeddings[37], single.Embeddings[0]) > 0.99999);
        Assert.True(Cosine(result.Embeddings[36], single.Embeddings[0]) < 0.99);
    }

    [Fact]
    public async Task EmbedAsync_TextLongerThanTheModelAccepts_InvalidInputNamingItsIndex()
    {
        var longText = string.Join(' ', Enumerable.Repeat("word", 600));

        var error = await Assert.ThrowsAsync<InferenceException>(() => Embeddings.EmbedAsync("minilm", ["short", longText], CancellationToken.None));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("input[1]", error.Message);
        Assert.Contains("512", error.Message);
    }

    [Fact]
    public async Task EmbedAsync_EmptyText_InvalidInputNamingItsIndex()
    {
        var error = await Assert.ThrowsAsync<InferenceException>(() => Embeddings.EmbedAsync("minilm", ["fine", " "], CancellationToken.None));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("input[1]", error.Message);
    }

    [Fact]
    public async Task EmbedAsync_NoTexts_InvalidInput()
    {
        var error = await Assert.ThrowsAsync<InferenceException>(() => Embeddings.EmbedAsync("minilm", [], CancellationToken.None));

        Assert.Equal(InferenceError.InvalidInput, error.Error);
    }

    [Theory]
    [InlineData("nope")]
    [InlineData("add_one")]
    [InlineData("../minilm")]
    public async Task EmbedAsync_UnknownOrNonEmbeddingModel_ModelNotFound(string model)
    {
        var error = await Assert.ThrowsAsync<InferenceException>(() => Embeddings.EmbedAsync(model, ["text"], CancellationToken.None));

        Assert.Equal(InferenceError.ModelNotFound, error.Error);
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }

        return dot / Math.Sqrt(na * nb);
    }
}
