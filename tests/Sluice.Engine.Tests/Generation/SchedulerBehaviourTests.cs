using Sluice.Core.Generation;
using Sluice.Core.Inference;

namespace Sluice.Engine.Tests.Generation;

/// <summary>Admission limits, cancellation and accounting of the real scheduler on tiny-llama.</summary>
public sealed class SchedulerBehaviourTests
{
    [Fact]
    public async Task Prompt_plus_max_tokens_over_the_context_is_rejected_naming_max_tokens()
    {
        await using var model = await TinyLlama.StartAsync("context_length: 64");
        var error = Assert.Throws<InferenceException>(() => model.Manager.Start(TinyLlama.Greedy(new int[60], 5), default));
        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("'max_tokens'", error.Message, StringComparison.Ordinal);
        Assert.Contains("64", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, model.Manager.GetStats()[0].Admitted);
    }

    [Theory]
    [InlineData(new[] { 5, 50257 }, 4, 0f, 1f, "'prompt' token 1")]
    [InlineData(new int[0], 4, 0f, 1f, "'prompt'")]
    [InlineData(new[] { 5 }, 0, 0f, 1f, "'max_tokens'")]
    [InlineData(new[] { 5 }, 4, -1f, 1f, "'temperature'")]
    [InlineData(new[] { 5 }, 4, 1f, 0f, "'top_p'")]
    public async Task Bad_requests_are_rejected_before_admission_naming_the_field(int[] prompt, int maxTokens, float temperature, float topP, string field)
    {
        await using var model = await TinyLlama.StartAsync();
        var request = new GenerationRequest(TinyLlama.Name, prompt, new SamplingParameters(MaxTokens: maxTokens, Temperature: temperature, TopP: topP));
        var error = Assert.Throws<InferenceException>(() => model.Manager.Start(request, default));
        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_model_is_model_not_found()
    {
        await using var model = await TinyLlama.StartAsync();
        var error = Assert.Throws<InferenceException>(() => model.Manager.Start(TinyLlama.Greedy([1], 1) with { Model = "nope" }, default));
        Assert.Equal(InferenceError.ModelNotFound, error.Error);
    }

    [Fact]
    public async Task A_full_waiting_queue_answers_queue_full_with_retry_after_and_loses_nothing()
    {
        await using var model = await TinyLlama.StartAsync("max_running: 1", "max_waiting: 2");
        var handles = new List<GenerationHandle>();
        InferenceException? rejected = null;
        for (var i = 0; i < 20 && rejected is null; i++)
        {
            try
            {
                handles.Add(model.Manager.Start(TinyLlama.Greedy([1, 2, 3], 2000), default));   // long enough to stay running
            }
            catch (InferenceException e)
            {
                rejected = e;
            }
        }

        Assert.NotNull(rejected);
        Assert.Equal(InferenceError.QueueFull, rejected.Error);
        Assert.NotNull(rejected.RetryAfter);
        foreach (var handle in handles)
        {
            var count = 0;
            await foreach (var update in handle.Updates())
            {
                count += update.TokenIds.Count;
            }

            Assert.Equal(2000, count);   // every admitted sequence ran to its end
        }

        var stats = model.Manager.GetStats()[0];
        Assert.Equal(handles.Count, stats.Admitted);
        Assert.Equal(stats.Admitted, stats.Finished);
    }

    [Fact]
    public async Task Cancelling_mid_stream_frees_the_slot_and_cache_and_keeps_the_accounting()
    {
        await using var model = await TinyLlama.StartAsync();
        using var cancel = new CancellationTokenSource();
        // The cancellation fires on the scheduler thread after the 5th later token, so it lands mid-stream however slowly
        // this test's own continuations run on a busy machine.
        model.Observer.OnNextToken = count =>
        {
            if (count == 5)
            {
                cancel.Cancel();
            }
        };
        var handle = model.Manager.Start(TinyLlama.Greedy([7, 8, 9], 1500), cancel.Token);
        var received = 0;
        GenerationUpdate? last = null;
        await foreach (var update in handle.Updates())
        {
            received += update.TokenIds.Count;
            last = update;
        }

        Assert.Equal(FinishReason.Cancelled, last!.Finish);
        Assert.InRange(received, 6, 8);   // stopped at the next step, not at max_tokens
        model.Observer.OnNextToken = null;
        Assert.Equal(TinyLlama.Golden[2].Generated,
            (await model.RunAsync(TinyLlama.Greedy(TinyLlama.Golden[2].Prompt, TinyLlama.Golden[2].Generated.Length))).Tokens);

        var stats = model.Manager.GetStats()[0];
        Assert.Equal(0, stats.Running);
        Assert.Equal(0, stats.KvCacheBlocksUsed);
        Assert.Equal(2, stats.Admitted);
        Assert.Equal(1, stats.Cancelled);
        Assert.Equal(stats.Admitted, stats.Finished + stats.Cancelled + stats.Failed);
        await handle.DisposeAsync();
    }

    [Fact]
    public async Task Disposing_the_handle_cancels_a_waiting_sequence()
    {
        await using var model = await TinyLlama.StartAsync("max_running: 1");
        var running = model.Manager.Start(TinyLlama.Greedy([1, 2], 2000), default);   // holds the only slot for a while
        var waiting = model.Manager.Start(TinyLlama.Greedy([3, 4], 300), default);
        await waiting.DisposeAsync();
        GenerationUpdate? last = null;
        await foreach (var update in waiting.Updates())
        {
            last = update;
        }

        Assert.Equal(FinishReason.Cancelled, last!.Finish);
        Assert.Equal(0, last.Usage!.CompletionTokens);
        await foreach (var _ in running.Updates())
        {
        }

        var stats = model.Manager.GetStats()[0];
        Assert.Equal(1, stats.Finished);
        Assert.Equal(1, stats.Cancelled);
    }

    [Fact]
    public async Task Eos_ends_a_sequence_with_stop_unless_ignored()
    {
        // Golden case 0 repeats token 36898; declaring it EOS must stop after the first token.
        await using var model = await TinyLlama.StartAsync("eos_token_ids: [36898]");
        var golden = TinyLlama.Golden[0];
        var request = new GenerationRequest(TinyLlama.Name, golden.Prompt, new SamplingParameters(MaxTokens: 10, Temperature: 0f));
        var (tokens, final, text) = await model.RunAsync(request);
        Assert.Equal([36898], tokens);
        Assert.Equal(FinishReason.Stop, final.Finish);
        Assert.Equal("", text);   // the EOS token's text is not part of the completion

        var (ignored, finalIgnored, _) = await model.RunAsync(request with { Sampling = request.Sampling with { IgnoreEos = true } });
        Assert.Equal(10, ignored.Count);
        Assert.Equal(FinishReason.Length, finalIgnored.Finish);
    }

    [Fact]
    public async Task Shutdown_finishes_admitted_sequences_before_returning()
    {
        var model = await TinyLlama.StartAsync();
        var handle = model.Manager.Start(TinyLlama.Greedy([1, 2, 3], 64), default);
        var reading = Task.Run(async () =>
        {
            var tokens = 0;
            FinishReason? finish = null;
            await foreach (var update in handle.Updates())
            {
                tokens += update.TokenIds.Count;
                finish = update.Finish ?? finish;
            }

            return (tokens, finish);
        });
        await model.DisposeAsync();
        var (count, reason) = await reading;
        Assert.Equal(64, count);
        Assert.Equal(FinishReason.Length, reason);
        Assert.Throws<InferenceException>(() => model.Manager.Start(TinyLlama.Greedy([1], 1), default));
    }
}
