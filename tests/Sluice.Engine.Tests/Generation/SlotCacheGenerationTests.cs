using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sluice.Core.Generation;
using Sluice.Engine.Generation;
using Sluice.Engine.Hosting;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Runtime;

namespace Sluice.Engine.Tests.Generation;

/// <summary>
/// The shared-buffer path (the one the GPU runs): a GroupQueryAttention Llama whose cache the runner keeps in slots,
/// updated in place. Greedy generations through the real scheduler equal the plain C# reference forward of the same
/// weights, alone, sharing decode batches, with chunked prefill, with slots freed and reused mid-run, and with more
/// sequences than slots.
/// </summary>
public sealed class SlotCacheGenerationTests : IAsyncLifetime
{
    private static readonly LlamaModelConfig Config = LlamaModelConfig.Tiny();
    private readonly string _root = Directory.CreateTempSubdirectory("sluice-slot-").FullName;
    private readonly LlamaReference _reference = new(Config);
    private GenerationManager _manager = null!;

    public async Task InitializeAsync()
    {
        var modelDir = Path.Combine(_root, "gqa");
        LlamaModelWriter.Write(Path.Combine(modelDir, "1", "model.onnx"), Config, decoderConfigPath: Path.Combine(modelDir, "decoder_config.json"));
        await File.WriteAllTextAsync(Path.Combine(modelDir, "config.yaml"), """
            name: gqa
            backend: decoder
            generation:
              tokenizer: tiktoken:gpt2
              context_length: 128
              max_running: 4
              step_token_budget: 24
              prefill_chunk: 7
            """);
        _manager = new GenerationManager(Options.Create(new ModelRepositoryOptions { RepositoryPath = _root }),
            [new OnnxModelBackend()], [], NullLogger<GenerationManager>.Instance, new OnnxSlotDecoderRunnerFactory());
        await _manager.StartAsync(CancellationToken.None);
        Assert.True(_manager.TryGetModel("gqa", out _), "the shared-buffer model did not load");
    }

    public async Task DisposeAsync()
    {
        await _manager.StopAsync(CancellationToken.None);
        Directory.Delete(_root, recursive: true);
    }

    private static int[] Prompt(int seed, int length)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(0, Config.Vocab)).ToArray();
    }

    private async Task<List<int>> GenerateAsync(int[] prompt, int maxTokens) => (await GenerateWithLogprobsAsync(prompt, maxTokens, null)).Tokens;

    private async Task<(List<int> Tokens, List<TokenLogprob> Logprobs)> GenerateWithLogprobsAsync(int[] prompt, int maxTokens, int? logprobs)
    {
        var request = new GenerationRequest("gqa", prompt, new SamplingParameters(MaxTokens: maxTokens, Temperature: 0f, IgnoreEos: true, Logprobs: logprobs));
        await using var handle = _manager.Start(request, default);
        var tokens = new List<int>();
        var chosen = new List<TokenLogprob>();
        await foreach (var update in handle.Updates())
        {
            tokens.AddRange(update.TokenIds);
            chosen.AddRange(update.Logprobs ?? []);
        }

        return (tokens, chosen);
    }

    private int[] Expected(int[] prompt, int maxTokens) =>
        _reference.GreedyGenerate(prompt.Select(t => (long)t).ToArray(), maxTokens).Select(t => (int)t).ToArray();

    [Fact]
    public async Task A_sequence_alone_matches_the_reference()
    {
        var prompt = Prompt(1, 5);
        Assert.Equal(Expected(prompt, 20), await GenerateAsync(prompt, 20));
    }

    [Fact]
    public async Task Sequences_sharing_batches_with_chunked_prefill_and_slot_reuse_match_the_reference()
    {
        // 10 sequences through 4 slots: prompts of 1..40 tokens (chunks of 7), different lengths, so slots are freed,
        // the last slot moves into the gap, and newcomers prefill while others decode.
        var cases = Enumerable.Range(0, 10).Select(i => (Prompt(100 + i, 1 + i * 4 % 41), 6 + i * 3 % 17)).ToArray();
        var runs = cases.Select(async (c, i) =>
        {
            await Task.Delay(i % 3 * 2);
            return await GenerateAsync(c.Item1, c.Item2);
        }).ToArray();
        var results = await Task.WhenAll(runs);
        for (var i = 0; i < cases.Length; i++)
        {
            Assert.Equal(Expected(cases[i].Item1, cases[i].Item2), results[i]);
        }

        var stats = _manager.GetStats()[0];
        Assert.Equal(0, stats.KvCacheBlocksUsed);
        Assert.Equal(4, stats.KvCacheBlocksTotal);
        Assert.Equal(stats.Admitted, stats.Finished);
    }

    [Fact]
    public async Task Greedy_rows_taking_the_models_argmax_share_steps_with_rows_that_need_logits()
    {
        // The model has a next_token output, so plain greedy rows take the device's argmax and skip their logits, while a
        // greedy row asking for log-probabilities still gets its logits in the same decode steps.
        var plain = Prompt(21, 6);
        var withLogprobs = Prompt(22, 9);
        var runs = await Task.WhenAll(GenerateWithLogprobsAsync(plain, 12, null), GenerateWithLogprobsAsync(withLogprobs, 12, 2));

        Assert.Equal(Expected(plain, 12), runs[0].Tokens);
        Assert.Empty(runs[0].Logprobs);
        Assert.Equal(Expected(withLogprobs, 12), runs[1].Tokens);
        Assert.Equal(12, runs[1].Logprobs.Count);
        Assert.All(runs[1].Logprobs, static l => Assert.True(l.Logprob <= 0f && l.Top.Count == 2, $"logprob {l.Logprob}"));
        Assert.Equal(runs[1].Tokens, runs[1].Logprobs.Select(static l => l.TokenId));
    }

    [Fact]
    public async Task A_cancelled_sequence_frees_its_slot_without_disturbing_the_others()
    {
        var keep = Prompt(7, 9);
        var other = GenerateAsync(keep, 40);
        using var cancel = new CancellationTokenSource();
        var doomed = _manager.Start(new GenerationRequest("gqa", Prompt(8, 3), new SamplingParameters(MaxTokens: 100, Temperature: 0f, IgnoreEos: true)), cancel.Token);
        var seen = 0;
        await foreach (var update in doomed.Updates())
        {
            if (++seen == 3)
            {
                await cancel.CancelAsync();
            }
        }

        Assert.Equal(Expected(keep, 40), await other);
        Assert.Equal(0, _manager.GetStats()[0].KvCacheBlocksUsed);
    }
}
