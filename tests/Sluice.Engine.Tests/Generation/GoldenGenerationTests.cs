using Sluice.Core.Generation;

namespace Sluice.Engine.Tests.Generation;

/// <summary>
/// The proof that the KV cache, positions and masks are right: every PyTorch greedy generation of the tiny-llama golden file
/// reproduces token for token through the real scheduler and ONNX Runtime, alone and when the cases share decode batches at
/// different lengths, with chunked prefill and with a cache too small for all of them at once.
/// </summary>
public sealed class GoldenGenerationTests
{
    [Fact]
    public async Task Every_golden_case_reproduces_alone()
    {
        await using var model = await TinyLlama.StartAsync();
        foreach (var golden in TinyLlama.Golden)
        {
            var (tokens, final, _) = await model.RunAsync(TinyLlama.Greedy(golden.Prompt, golden.Generated.Length));
            Assert.Equal(golden.Generated, tokens);
            Assert.Equal(FinishReason.Length, final.Finish);
            Assert.Equal(golden.Prompt.Length, final.Usage!.PromptTokens);
            Assert.Equal(golden.Generated.Length, final.Usage.CompletionTokens);
        }
    }

    [Fact]
    public async Task Golden_cases_reproduce_when_they_share_batches_with_chunked_prefill()
    {
        // Prompts of 1..200 tokens prefilled in chunks of 16 while the others decode: every step mixes lengths and padding.
        await using var model = await TinyLlama.StartAsync("prefill_chunk: 16", "step_token_budget: 64");
        var runs = Enumerable.Range(0, 3)
            .SelectMany(_ => TinyLlama.Golden)
            .Select(async (golden, i) =>
            {
                await Task.Delay(i % 4 * 3);   // staggered arrivals join a batch already running
                var (tokens, _, _) = await model.RunAsync(TinyLlama.Greedy(golden.Prompt, golden.Generated.Length));
                return (golden, tokens);
            })
            .ToArray();

        foreach (var (golden, tokens) in await Task.WhenAll(runs))
        {
            Assert.Equal(golden.Generated, tokens);
        }

        var steps = model.Observer.StepsSnapshot();
        Assert.Contains(steps, s => s.DecodeSequences > 1);                       // decodes were batched
        Assert.Contains(steps, s => s.PrefillSequences > 0 && s.DecodeSequences > 0);  // prefill ran while others decoded
        // Prompt tokens of a step: chunks (at most 16 each, within the 64-token budget less one per running sequence) plus
        // the prompts' last tokens, which are decoded.
        Assert.All(steps, s => Assert.True(s.PrefillTokens <= 64, "step token budget exceeded"));
        Assert.All(steps, s => Assert.True(s.PrefillTokens <= 16 * s.PrefillSequences + s.DecodeSequences));
    }

    [Fact]
    public async Task A_full_cache_makes_sequences_wait_and_all_still_reproduce()
    {
        // 512 tokens of cache: the 200-token prompt (+16) alone takes 14 of 32 blocks, so the cases cannot all run at once.
        await using var model = await TinyLlama.StartAsync("kv_cache_tokens: 512", "kv_block_size: 16");
        var runs = TinyLlama.Golden.Concat(TinyLlama.Golden)
            .Select(async golden => (golden, (await model.RunAsync(TinyLlama.Greedy(golden.Prompt, golden.Generated.Length))).Tokens))
            .ToArray();
        var results = await Task.WhenAll(runs);

        foreach (var (golden, tokens) in results)
        {
            Assert.Equal(golden.Generated, tokens);
        }

        var steps = model.Observer.StepsSnapshot();
        Assert.Contains(steps, s => s.Waiting > 0 && s.KvCacheBlocksUsed > 32 - 14);   // waiting for cache, not for a slot
        Assert.All(steps, s => Assert.True(s.KvCacheBlocksUsed <= 32));
        var final = model.Manager.GetStats()[0];
        Assert.Equal(0, final.KvCacheBlocksUsed);
        Assert.Equal(final.Admitted, final.Finished);
    }

    [Fact]
    public async Task First_step_logits_match_the_reference_head()
    {
        // Sanity on the exact numbers, not just the argmax: top-1 logprob ordering agrees with PyTorch's top 5.
        await using var model = await TinyLlama.StartAsync();
        var golden = TinyLlama.Golden[1];
        var request = TinyLlama.Greedy(golden.Prompt, 1) with
        {
            Sampling = new SamplingParameters(MaxTokens: 1, Temperature: 0f, IgnoreEos: true, Logprobs: 5),
        };
        var (tokens, final, _) = await model.RunAsync(request);
        var top = final.Logprobs![0].Top.Select(t => t.TokenId).ToArray();
        Assert.Equal(new[] { 8048, 23243, 34868, 11673, 33243 }, top);
        Assert.Equal(tokens[0], top[0]);
        Assert.True(final.Logprobs[0].Logprob < 0f);
    }
}
