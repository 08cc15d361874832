using Sluice.Core.Generation;

namespace Sluice.Engine.Tests.Generation;

/// <summary>Sampling on the real model: seeds reproduce, top-k 1 is greedy, stop sequences cut the text.</summary>
public sealed class SamplingTests
{
    private static GenerationRequest Sampled(long? seed, float temperature = 1.5f, int topK = 0, float topP = 1f) =>
        new(TinyLlama.Name, [464, 3290, 318], new SamplingParameters(MaxTokens: 24, Temperature: temperature, TopK: topK, TopP: topP, Seed: seed, IgnoreEos: true));

    [Fact]
    public async Task A_seed_reproduces_a_sampled_generation_and_another_seed_differs()
    {
        await using var model = await TinyLlama.StartAsync();
        var first = (await model.RunAsync(Sampled(42))).Tokens;
        var again = (await model.RunAsync(Sampled(42))).Tokens;
        var other = (await model.RunAsync(Sampled(43))).Tokens;
        var greedy = (await model.RunAsync(Sampled(null, temperature: 0f))).Tokens;
        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        Assert.NotEqual(first, greedy);   // at temperature 1.5 over a 50k vocabulary, sampling departs from the argmax
    }

    [Fact]
    public async Task Top_k_one_is_greedy_and_a_tiny_top_p_is_greedy()
    {
        await using var model = await TinyLlama.StartAsync();
        var greedy = (await model.RunAsync(Sampled(null, temperature: 0f))).Tokens;
        Assert.Equal(greedy, (await model.RunAsync(Sampled(1, topK: 1))).Tokens);
        Assert.Equal(greedy, (await model.RunAsync(Sampled(2, topP: 1e-6f))).Tokens);
    }

    [Fact]
    public async Task Seeded_sampling_is_the_same_alone_and_in_a_busy_batch()
    {
        await using var model = await TinyLlama.StartAsync();
        var alone = (await model.RunAsync(Sampled(7, topK: 50, topP: 0.9f))).Tokens;
        var crowd = Enumerable.Range(0, 12).Select(i => model.RunAsync(Sampled(100 + i))).ToList();
        var inBatch = model.RunAsync(Sampled(7, topK: 50, topP: 0.9f));
        await Task.WhenAll(crowd);
        Assert.Equal(alone, (await inBatch).Tokens);
    }

    [Fact]
    public async Task A_stop_sequence_ends_the_text_before_it()
    {
        await using var model = await TinyLlama.StartAsync();
        var greedy = await model.RunAsync(Sampled(null, temperature: 0f));
        Assert.True(greedy.Text.Length > 10, greedy.Text);
        var stop = greedy.Text.Substring(5, 3);
        var cut = greedy.Text[..greedy.Text.IndexOf(stop, StringComparison.Ordinal)];
        var request = Sampled(null, temperature: 0f) with { Sampling = Sampled(null, temperature: 0f).Sampling with { StopSequences = [stop] } };
        var (tokens, final, text) = await model.RunAsync(request);
        Assert.Equal(cut, text);
        Assert.Equal(FinishReason.Stop, final.Finish);
        Assert.True(tokens.Count < 24);
    }
}
