using Sluice.Core.Inference;

namespace Sluice.Core.Generation;

/// <summary>
/// Text generation with decoder models: admission, continuous batching, sampling and detokenization behind one call. Protocol
/// endpoints (OpenAI, KServe generate) translate to and from it; they never see the scheduler, the KV cache or the runtime.
/// </summary>
public interface IGenerationService
{
    /// <summary>The decoder models that are loaded and ready.</summary>
    IReadOnlyList<GenerationModelInfo> Models { get; }

    /// <summary>Looks up a ready decoder model by name.</summary>
    bool TryGetModel(string name, out GenerationModelInfo info);

    /// <summary>Tokenizes text with the model's tokenizer. Throws <see cref="InferenceException"/> (ModelNotFound).</summary>
    int[] Tokenize(string model, string text);

    /// <summary>
    /// Renders chat messages into the model's prompt text with its chat template (ending where the assistant's reply starts).
    /// Throws <see cref="InferenceException"/> (ModelNotFound, or InvalidInput naming <c>messages[i].role</c> for a role the
    /// template does not know).
    /// </summary>
    string ApplyChatTemplate(string model, IReadOnlyList<ChatMessage> messages);

    /// <summary>
    /// Validates and admits one sequence. Throws <see cref="InferenceException"/> before anything runs: InvalidInput naming
    /// the field (e.g. <c>max_tokens</c> when prompt + max_tokens exceed the context length), ModelNotFound, QueueFull (with
    /// RetryAfter) when the waiting queue is at its bound, Draining at shutdown. Once this returns, the sequence is admitted
    /// and ends exactly once as finished, cancelled or failed; disposing the handle (or cancelling
    /// <paramref name="cancellationToken"/>) cancels it and frees its cache at the next scheduler step.
    /// </summary>
    GenerationHandle Start(GenerationRequest request, CancellationToken cancellationToken);

    /// <summary>Live scheduler and cache figures per model, for gauges and the dashboard.</summary>
    IReadOnlyList<GenerationModelStats> GetStats();
}

/// <summary>A ready decoder model as the API describes it.</summary>
/// <param name="Name">Repository name.</param>
/// <param name="ContextLength">Max prompt + generated tokens per sequence.</param>
/// <param name="VocabSize">Size of the logits' vocabulary.</param>
/// <param name="EosTokenIds">Tokens that end a sequence unless the request ignores EOS.</param>
/// <param name="CreatedUnixSeconds">When it was loaded (OpenAI's <c>created</c>).</param>
/// <param name="ChatTemplate">Name of the chat template it uses (e.g. <c>chatml</c>).</param>
public sealed record GenerationModelInfo(
    string Name, int ContextLength, int VocabSize, IReadOnlyList<int> EosTokenIds, long CreatedUnixSeconds, string ChatTemplate);

/// <summary>One chat message.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>What to generate.</summary>
/// <param name="Model">Decoder model name.</param>
/// <param name="PromptTokens">The prompt, already tokenized (at least one token).</param>
/// <param name="Sampling">How to choose tokens and when to stop.</param>
/// <param name="Protocol">The endpoint family, for metrics and logs (<c>openai</c>, <c>kserve</c>).</param>
public sealed record GenerationRequest(string Model, int[] PromptTokens, SamplingParameters Sampling, string Protocol = "openai");

/// <summary>Sampling and stopping. Temperature 0 (or top_k 1) is greedy.</summary>
/// <param name="MaxTokens">Most tokens to generate (at least 1).</param>
/// <param name="Temperature">0 = greedy; otherwise logits are divided by it before softmax.</param>
/// <param name="TopK">Keep only the k most likely tokens; 0 = all.</param>
/// <param name="TopP">Nucleus sampling: keep the smallest set whose probability reaches p; 1 = all.</param>
/// <param name="Seed">Makes sampling reproducible; null = random.</param>
/// <param name="StopSequences">Texts that end generation; the stop text itself is not returned.</param>
/// <param name="IgnoreEos">Keep generating past EOS tokens (benchmarks).</param>
/// <param name="Logprobs">Return the chosen token's log-probability and this many alternatives (0 = chosen only); null = none.</param>
public sealed record SamplingParameters(
    int MaxTokens = 16,
    float Temperature = 1f,
    int TopK = 0,
    float TopP = 1f,
    long? Seed = null,
    IReadOnlyList<string>? StopSequences = null,
    bool IgnoreEos = false,
    int? Logprobs = null);

/// <summary>Why a sequence ended.</summary>
public enum FinishReason
{
    /// <summary>An EOS token or a stop sequence.</summary>
    Stop,
    /// <summary>max_tokens or the context length was reached.</summary>
    Length,
    /// <summary>The client cancelled or disconnected.</summary>
    Cancelled,
    /// <summary>The runtime failed; <see cref="GenerationUpdate.Error"/> says why.</summary>
    Error,
}

/// <summary>A token's log-probability and, when asked for, the most likely alternatives at that step.</summary>
public sealed record TokenLogprob(int TokenId, string Text, float Logprob, IReadOnlyList<(int TokenId, string Text, float Logprob)> Top);

/// <summary>
/// One streamed piece of a sequence: the tokens generated since the previous update and the text they complete. The last update
/// has <see cref="Finish"/> set (and may carry no tokens).
/// </summary>
/// <param name="TokenIds">New token ids (may be empty on the final update).</param>
/// <param name="Text">New text: detokenized incrementally, held back while it may still be the start of a stop sequence or an incomplete UTF-8 character.</param>
/// <param name="Logprobs">One entry per token in <paramref name="TokenIds"/> when logprobs were asked for.</param>
/// <param name="Finish">Set on the last update.</param>
/// <param name="Usage">Set on the last update.</param>
/// <param name="Error">Why it failed, when <paramref name="Finish"/> is <see cref="FinishReason.Error"/>.</param>
public sealed record GenerationUpdate(
    IReadOnlyList<int> TokenIds,
    string Text,
    IReadOnlyList<TokenLogprob>? Logprobs,
    FinishReason? Finish,
    GenerationUsage? Usage,
    string? Error = null);

/// <summary>Token counts and timings of a finished sequence.</summary>
/// <param name="PromptTokens">Tokens in the prompt.</param>
/// <param name="CompletionTokens">Tokens generated (stop-sequence tokens included).</param>
/// <param name="Queue">Admission to first scheduled.</param>
/// <param name="TimeToFirstToken">Admission to first token available.</param>
/// <param name="EndToEnd">Admission to finish.</param>
/// <param name="MeanInterTokenLatency">Mean gap between consecutive tokens after the first (zero with fewer than two tokens).</param>
public sealed record GenerationUsage(
    int PromptTokens, int CompletionTokens, TimeSpan Queue, TimeSpan TimeToFirstToken, TimeSpan EndToEnd, TimeSpan MeanInterTokenLatency);

/// <summary>An admitted sequence. Read <see cref="Updates"/> to the end; dispose to cancel early.</summary>
public abstract class GenerationHandle : IAsyncDisposable
{
    /// <summary>The sequence's id (for logs and the OpenAI response id).</summary>
    public abstract string Id { get; }

    /// <summary>Tokens in the prompt.</summary>
    public abstract int PromptTokenCount { get; }

    /// <summary>The updates, in order, ending with one whose <see cref="GenerationUpdate.Finish"/> is set.</summary>
    public abstract IAsyncEnumerable<GenerationUpdate> Updates(CancellationToken cancellationToken = default);

    /// <summary>Cancels the sequence if it has not ended; its slot and cache are freed at the next scheduler step.</summary>
    public abstract ValueTask DisposeAsync();
}

/// <summary>Live figures of one decoder model.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Running">Sequences in the running batch.</param>
/// <param name="Waiting">Admitted sequences waiting for a slot or cache.</param>
/// <param name="KvCacheUsage">Fraction of KV cache blocks in use (0..1).</param>
/// <param name="KvCacheBlocksUsed">Blocks in use.</param>
/// <param name="KvCacheBlocksTotal">Blocks in the budget.</param>
/// <param name="Admitted">Sequences admitted since load.</param>
/// <param name="Finished">Sequences that ended with stop or length.</param>
/// <param name="Cancelled">Sequences cancelled by their client.</param>
/// <param name="Failed">Sequences that failed in the runtime.</param>
public sealed record GenerationModelStats(
    string Model, int Running, int Waiting, double KvCacheUsage, int KvCacheBlocksUsed, int KvCacheBlocksTotal,
    long Admitted, long Finished, long Cancelled, long Failed);

/// <summary>
/// Told of every sequence's first token, each later token, its end, and every scheduler step: the seam through which LLM
/// metrics and the SLO engine see generation. Called synchronously on the scheduler thread: cheap, never throws.
/// </summary>
public interface IGenerationObserver
{
    /// <summary>A sequence produced its first token.</summary>
    void FirstToken(string model, TimeSpan timeToFirstToken, TimeSpan queue);

    /// <summary>A sequence produced a later token, <paramref name="interTokenLatency"/> after its previous one.</summary>
    void NextToken(string model, TimeSpan interTokenLatency);

    /// <summary>A sequence ended (any reason); usage is complete.</summary>
    void SequenceEnded(string model, string protocol, FinishReason reason, GenerationUsage usage, TimeSpan p95InterTokenLatency);

    /// <summary>One scheduler step ran: prefill and/or decode.</summary>
    void StepExecuted(in GenerationStep step);
}

/// <summary>One scheduler iteration.</summary>
/// <param name="Model">Model name.</param>
/// <param name="PrefillSequences">Sequences that had prompt tokens prefilled this step.</param>
/// <param name="PrefillTokens">Prompt tokens computed this step.</param>
/// <param name="PrefillTime">Time of the prefill run (zero when none).</param>
/// <param name="DecodeSequences">Sequences that decoded one token this step.</param>
/// <param name="DecodeTime">Time of the decode run (zero when none).</param>
/// <param name="Waiting">Sequences left waiting after this step's admissions (for want of a slot or cache).</param>
/// <param name="KvCacheBlocksUsed">KV cache blocks reserved by running sequences during the step.</param>
public readonly record struct GenerationStep(
    string Model, int PrefillSequences, int PrefillTokens, TimeSpan PrefillTime, int DecodeSequences, TimeSpan DecodeTime,
    int Waiting = 0, int KvCacheBlocksUsed = 0);

/// <summary>Sentence embeddings with a model's own tokenizer and pooling, for the OpenAI embeddings API.</summary>
public interface IEmbeddingService
{
    /// <summary>Names of the models that can embed text.</summary>
    IReadOnlyList<string> Models { get; }

    /// <summary>
    /// Embeds each input text (mean pooling over the attention mask, L2-normalized). Throws <see cref="InferenceException"/>:
    /// ModelNotFound, InvalidInput naming <c>input[i]</c> when a text is empty or longer than the model accepts.
    /// </summary>
    Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<string> inputs, CancellationToken cancellationToken);
}

/// <summary>Embeddings, one per input, and the tokens they took.</summary>
public sealed record EmbeddingResult(IReadOnlyList<float[]> Embeddings, int PromptTokens);

/// <summary>
/// A decoder whose KV cache lives inside the runner, in fixed per-sequence slots (rows of a preallocated buffer the model
/// updates in place, e.g. on the GPU): the engine never copies keys and values, it only says which slot runs which tokens.
/// Calls are not concurrent.
/// </summary>
public interface ISlotDecoderRunner : IDisposable
{
    /// <summary>Slots (sequences that can hold a cache at once).</summary>
    int Slots { get; }

    /// <summary>Tokens one slot holds (the model's context length).</summary>
    int SlotLength { get; }

    /// <summary>Bytes of cache preallocated for all slots.</summary>
    long CacheBytes { get; }

    /// <summary>Where it runs, for logs (e.g. <c>cuda:0, CUDA graphs</c>).</summary>
    string Description { get; }

    /// <summary>
    /// Computes <paramref name="tokens"/> at positions <paramref name="start"/>.. of the sequence in <paramref name="slot"/>
    /// (its cache holds positions before <paramref name="start"/>) and writes the last token's logits, unless
    /// <paramref name="logits"/> is empty: then only the cache is filled and no logits are computed.
    /// </summary>
    void Prefill(int slot, ReadOnlySpan<int> tokens, int start, Span<float> logits);

    /// <summary>
    /// Computes the first chunk of several prompts in one run: slots <paramref name="firstSlot"/>.. (one per row, their
    /// caches empty before), row r holding <paramref name="lengths"/>[r] tokens at positions 0.. . <paramref name="tokens"/> is
    /// the rows one after another, <paramref name="width"/> tokens each; a row's tokens past its length are padding, whose
    /// keys and values land beyond the row's length, where the row's later tokens overwrite them before anything reads them.
    /// No logits. Rows too many for one run are split into several.
    /// </summary>
    void PrefillPrompts(int firstSlot, ReadOnlySpan<int> tokens, int width, ReadOnlySpan<int> lengths);

    /// <summary>
    /// True when the model also gives each row's greedy next token (a <c>next_token</c> output: ArgMax of the logits, first
    /// index of the largest), so <see cref="Decode"/> can hand back greedy choices without copying logits to the host.
    /// </summary>
    bool HasArgMax { get; }

    /// <summary>
    /// One decode step for slots 0..n-1 (n = <paramref name="tokens"/>.Length): slot i adds <paramref name="tokens"/>[i] at
    /// position <paramref name="positions"/>[i]. Writes the logits of the slots listed in <paramref name="rows"/>, in that
    /// order (row j of <paramref name="logits"/> is slot <c>rows[j]</c>; a row of -1 is skipped and left as it was), so a
    /// caller gets them in its own order and slots whose logits it does not need are never copied or converted. With
    /// <see cref="HasArgMax"/>, <paramref name="argmax"/>[i] receives slot i's greedy next token. A slot not in use is given
    /// position 0 (it is overwritten when a sequence's prefill starts there).
    /// </summary>
    void Decode(ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions, ReadOnlySpan<int> rows, Span<float> logits, Span<int> argmax);

    /// <summary>Moves the cache of slot <paramref name="from"/> to slot <paramref name="to"/> (keeps used slots contiguous).</summary>
    void MoveSlot(int from, int to);
}

/// <summary>Creates <see cref="ISlotDecoderRunner"/>s for models in the shared-KV-buffer layout.</summary>
public interface ISlotDecoderRunnerFactory
{
    /// <summary>Loads the model. Throws <see cref="InferenceException"/> (LoadFailed) naming what is wrong.</summary>
    /// <param name="modelPath">The ONNX file.</param>
    /// <param name="spec">Its decoder shape.</param>
    /// <param name="executionProvider"><c>cpu</c> or <c>cuda</c>.</param>
    /// <param name="deviceId">GPU ordinal.</param>
    /// <param name="providerOptions">Execution options (e.g. <c>enable_cuda_graph</c>).</param>
    ISlotDecoderRunner Create(string modelPath, SlotDecoderSpec spec, string executionProvider, int deviceId, IReadOnlyDictionary<string, string> providerOptions);
}

/// <summary>The shape of a shared-KV-buffer decoder.</summary>
/// <param name="Name">Model name, for messages.</param>
/// <param name="Layers">Transformer layers.</param>
/// <param name="KvHeads">Key/value heads.</param>
/// <param name="HeadDim">Elements per head.</param>
/// <param name="VocabSize">Logits per position.</param>
/// <param name="MaxLength">Tokens per slot (the model's cache length).</param>
/// <param name="Slots">Slots to preallocate.</param>
/// <param name="Half">True when the cache and logits are float16.</param>
public sealed record SlotDecoderSpec(string Name, int Layers, int KvHeads, int HeadDim, int VocabSize, int MaxLength, int Slots, bool Half);
