using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.ML.Tokenizers;
using Sluice.Core.Generation;
using Sluice.Core.Inference;

namespace Sluice.Engine.Generation;

/// <summary>
/// Continuous (iteration-level) batching for one decoder model. Each step: drop cancelled sequences (freeing their cache),
/// admit waiting ones while the running batch and the KV cache budget have room (first come, first served), run one decode
/// step for every running sequence past its prompt, prefill prompt chunks of new sequences within the step's token budget
/// (long prompts in several steps, so decodes never stall behind them), sample, and stream each new token out.
/// </summary>
/// <remarks>
/// One loop per model, on its own task: the runner is not called concurrently. Every admitted sequence ends exactly once
/// (finished, cancelled or failed), which <see cref="GenerationModelStats"/> counts: admitted = finished + cancelled + failed
/// + running + waiting.
/// </remarks>
internal sealed partial class SequenceScheduler : IAsyncDisposable
{
    private readonly DecoderModelSettings _settings;
    private readonly Tokenizer _tokenizer;
    private readonly IKvBackend _cache;
    private readonly IGenerationObserver[] _observers;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Sequence> _arrivals = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly List<Sequence> _waiting = [];
    private readonly List<Sequence> _running = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int[] _tokens = [];

    /// <summary>From this many rows a decode step samples its rows in parallel: each row's sampler is its own sequence's, and
    /// the runtime's threads are idle while the scheduler samples, so a batch's argmaxes over the vocabulary can use them.</summary>
    private const int ParallelSamplingRows = 8;
    private int _queued;      // arrivals + waiting, for the admission bound
    private int _runningCount;
    private long _admitted;
    private long _finished;
    private long _cancelled;
    private long _failed;
    private long _sequenceNumber;
    private volatile bool _draining;

    public SequenceScheduler(DecoderModelSettings settings, Tokenizer tokenizer, IKvBackend cache,
        IEnumerable<IGenerationObserver> observers, ILogger logger)
    {
        _settings = settings;
        _tokenizer = tokenizer;
        _cache = cache;
        _observers = observers.ToArray();
        _logger = logger;
        _loop = Task.Factory.StartNew(LoopAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    public GenerationModelStats Stats => new(
        _settings.Name, Volatile.Read(ref _runningCount), Volatile.Read(ref _queued),
        _cache.TotalUnits == 0 ? 0 : (double)_cache.UsedUnits / _cache.TotalUnits, _cache.UsedUnits, _cache.TotalUnits,
        Interlocked.Read(ref _admitted), Interlocked.Read(ref _finished), Interlocked.Read(ref _cancelled), Interlocked.Read(ref _failed));

    /// <summary>Validates and queues a sequence (see <see cref="IGenerationService.Start"/>).</summary>
    public GenerationHandle Admit(GenerationRequest request, CancellationToken cancellationToken)
    {
        Validate(request);
        if (_draining)
        {
            throw new InferenceException(InferenceError.Draining, "The server is shutting down and accepts no new generations.")
            {
                RetryAfter = TimeSpan.FromSeconds(1),
            };
        }

        if (Interlocked.Increment(ref _queued) > _settings.MaxWaiting)
        {
            Interlocked.Decrement(ref _queued);
            throw new InferenceException(InferenceError.QueueFull,
                $"Model '{_settings.Name}' has {_settings.MaxWaiting} sequences waiting (generation.max_waiting); retry later.")
            {
                RetryAfter = TimeSpan.FromSeconds(1),
            };
        }

        var id = "gen-" + Interlocked.Increment(ref _sequenceNumber).ToString(System.Globalization.CultureInfo.InvariantCulture)
            + "-" + Guid.NewGuid().ToString("N")[..12];
        var sequence = new Sequence(id, request, new Sampler(request.Sampling),
            new TextStream(_tokenizer, request.PromptTokens, request.Sampling.StopSequences), Stopwatch.GetTimestamp());
        Interlocked.Increment(ref _admitted);
        var handle = new Handle(this, sequence);
        if (cancellationToken.CanBeCanceled)
        {
            handle.Registration = cancellationToken.Register(static state => ((Handle)state!).Cancel(), handle);
        }

        _arrivals.Enqueue(sequence);
        _wake.Release();
        return handle;
    }

    private void Validate(GenerationRequest request)
    {
        var prompt = request.PromptTokens;
        if (prompt is null || prompt.Length == 0)
        {
            throw Invalid("'prompt' must hold at least one token.");
        }

        for (var i = 0; i < prompt.Length; i++)
        {
            if ((uint)prompt[i] >= (uint)_settings.VocabSize)
            {
                throw Invalid($"'prompt' token {i} is {prompt[i]}, outside the vocabulary [0, {_settings.VocabSize}).");
            }
        }

        var sampling = request.Sampling ?? throw Invalid("sampling parameters are required.");
        if (sampling.MaxTokens < 1)
        {
            throw Invalid($"'max_tokens' must be at least 1, got {sampling.MaxTokens}.");
        }

        if (prompt.Length + (long)sampling.MaxTokens > _settings.ContextLength)
        {
            throw Invalid($"'max_tokens' ({sampling.MaxTokens}) plus the prompt's {prompt.Length} tokens exceed the context length of model '{_settings.Name}' ({_settings.ContextLength}).");
        }

        if (prompt.Length + (long)sampling.MaxTokens > _cache.MaxSequenceTokens)
        {
            throw Invalid($"'max_tokens' ({sampling.MaxTokens}) plus the prompt's {prompt.Length} tokens exceed the KV cache budget of model '{_settings.Name}' ({_cache.MaxSequenceTokens} tokens per sequence).");
        }

        if (!(sampling.Temperature >= 0f) || float.IsInfinity(sampling.Temperature))
        {
            throw Invalid($"'temperature' must be a finite number >= 0, got {sampling.Temperature}.");
        }

        if (!(sampling.TopP > 0f && sampling.TopP <= 1f))
        {
            throw Invalid($"'top_p' must be in (0, 1], got {sampling.TopP}.");
        }

        if (sampling.TopK < 0)
        {
            throw Invalid($"'top_k' must be >= 0 (0 = all), got {sampling.TopK}.");
        }

        if (sampling.Logprobs is < 0 or > 20)
        {
            throw Invalid($"'logprobs' must be between 0 and 20, got {sampling.Logprobs}.");
        }

        if (sampling.StopSequences is { } stops && stops.Any(string.IsNullOrEmpty))
        {
            throw Invalid("'stop' sequences must be non-empty strings.");
        }
    }

    private static InferenceException Invalid(string message) => new(InferenceError.InvalidInput, message);

    private async Task LoopAsync()
    {
        var stopping = _stop.Token;
        while (true)
        {
            TakeArrivals();
            DropCancelled();
            AdmitWaiting();
            if (_running.Count == 0)
            {
                if (stopping.IsCancellationRequested && _waiting.Count == 0 && _arrivals.IsEmpty)
                {
                    return;
                }

                try
                {
                    await _wake.WaitAsync(stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Shutdown: finish what was admitted, then leave.
                }

                continue;
            }

            await StepAsync().ConfigureAwait(false);
        }
    }

    private void TakeArrivals()
    {
        while (_arrivals.TryDequeue(out var sequence))
        {
            _waiting.Add(sequence);
        }

        // Drain stray wake signals so an idle loop blocks again.
        while (_wake.CurrentCount > 0 && _wake.Wait(0))
        {
        }
    }

    private void DropCancelled()
    {
        for (var i = _waiting.Count - 1; i >= 0; i--)
        {
            if (_waiting[i].CancelRequested)
            {
                var sequence = _waiting[i];
                _waiting.RemoveAt(i);
                Interlocked.Decrement(ref _queued);
                End(sequence, FinishReason.Cancelled, null);
            }
        }

        for (var i = _running.Count - 1; i >= 0; i--)
        {
            if (_running[i].CancelRequested)
            {
                var sequence = _running[i];
                RemoveRunning(i);
                End(sequence, FinishReason.Cancelled, null);
            }
        }
    }

    private void AdmitWaiting()
    {
        while (_waiting.Count > 0 && _running.Count < _settings.MaxRunning)
        {
            var sequence = _waiting[0];
            if (!_cache.TryReserve(sequence))
            {
                return;   // first come, first served: later sequences do not overtake one waiting for cache
            }

            _waiting.RemoveAt(0);
            Interlocked.Decrement(ref _queued);
            sequence.ScheduledTicks = Stopwatch.GetTimestamp();
            _running.Add(sequence);
            Interlocked.Increment(ref _runningCount);
        }
    }

    private async Task StepAsync()
    {
        var waiting = _waiting.Count;
        var blocksUsed = _cache.UsedUnits;

        // Prefill first: prompt chunks, first come first served, within what the step's token budget leaves after one
        // decode token per running sequence. A prompt's last token is not prefilled: it is decoded with the others, which
        // gives the first token's logits, so prefill runs never need logits. (ONNX Runtime still runs the vocabulary
        // projection unless the graph stops it: decoders on the host cache are rewritten to project one position per row,
        // see LastPositionLogits.)
        var budget = _settings.StepTokenBudget - _running.Count;
        var prefill = new List<StepItem>();
        foreach (var sequence in _running)
        {
            if (budget <= 0)
            {
                break;
            }

            if (sequence.IsPrefilling)
            {
                var count = Math.Min(Math.Min(sequence.PromptLength - 1 - sequence.Cached, _settings.PrefillChunk), budget);
                prefill.Add(new StepItem(sequence, sequence.Cached, count));
                budget -= count;
            }
        }

        var prefillTime = prefill.Count > 0 ? await RunAsync(prefill, decode: false).ConfigureAwait(false) : TimeSpan.Zero;

        // Decode: every running sequence whose prompt is in the cache (but its last token) feeds its last token.
        var decode = new List<StepItem>(_running.Count);
        var promptTokens = prefill.Sum(p => p.Count);
        foreach (var sequence in _running)
        {
            if (!sequence.IsPrefilling)
            {
                decode.Add(new StepItem(sequence, sequence.Cached, 1));
                if (sequence.Cached == sequence.PromptLength - 1)
                {
                    promptTokens++;   // the prompt's last token
                }
            }
        }

        var decodeTime = decode.Count > 0 ? await RunAsync(decode, decode: true).ConfigureAwait(false) : TimeSpan.Zero;
        var step = new GenerationStep(_settings.Name, prefill.Count, promptTokens, prefillTime, decode.Count, decodeTime, waiting, blocksUsed);
        foreach (var observer in _observers)
        {
            observer.StepExecuted(step);
        }
    }

    /// <summary>Runs one batch, samples, streams; returns the run's duration. On a runtime failure the batch's sequences fail.</summary>
    private async Task<TimeSpan> RunAsync(List<StepItem> items, bool decode)
    {
        var vocab = _settings.VocabSize;
        var started = Stopwatch.GetTimestamp();
        StepLogits output;
        try
        {
            output = await _cache.RunAsync(items, decode, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InferenceException or InvalidOperationException or OutOfMemoryException)
        {
            LogStepFailed(_logger, _settings.Name, items.Count, e);
            foreach (var item in items)
            {
                var index = _running.IndexOf(item.Sequence);
                if (index >= 0)
                {
                    RemoveRunning(index);
                }

                End(item.Sequence, FinishReason.Error, $"The model failed while generating: {e.Message}");
            }

            return Stopwatch.GetElapsedTime(started);
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        var logits = output.Logits;
        if (decode)
        {
            SampleAll(items, output, vocab);
        }

        var now = Stopwatch.GetTimestamp();
        for (var b = 0; b < items.Count; b++)
        {
            var item = items[b];
            var sequence = item.Sequence;
            sequence.Cached = item.Start + item.Count;
            if (decode)
            {
                Emit(sequence, _tokens[b], logits.AsSpan(b * vocab, vocab), now);
            }
        }

        return elapsed;
    }

    /// <summary>Puts each decoded row's next token into <see cref="_tokens"/>: the backend's own choice where it made one, else the sequence's sampler (rows in parallel from <see cref="ParallelSamplingRows"/>).</summary>
    private void SampleAll(List<StepItem> items, StepLogits output, int vocab)
    {
        if (_tokens.Length < items.Count)
        {
            _tokens = new int[items.Count];
        }

        var (logits, chosen) = (output.Logits, output.Chosen);
        var tokens = _tokens;
        var toSample = 0;
        for (var b = 0; b < items.Count; b++)
        {
            tokens[b] = chosen is not null ? chosen[b] : -1;
            toSample += tokens[b] < 0 ? 1 : 0;
        }

        if (toSample < ParallelSamplingRows)
        {
            for (var b = 0; b < items.Count; b++)
            {
                if (tokens[b] < 0)
                {
                    tokens[b] = items[b].Sequence.Sampler.Next(logits.AsSpan(b * vocab, vocab));
                }
            }

            return;
        }

        Parallel.For(0, items.Count, b =>
        {
            if (tokens[b] < 0)
            {
                tokens[b] = items[b].Sequence.Sampler.Next(logits.AsSpan(b * vocab, vocab));
            }
        });
    }

    private void Emit(Sequence sequence, int token, ReadOnlySpan<float> logits, long now)
    {
        sequence.Tokens.Add(token);
        if (sequence.FirstTokenTicks == 0)
        {
            sequence.FirstTokenTicks = now;
            var ttft = Stopwatch.GetElapsedTime(sequence.AdmittedTicks, now);
            var queue = Stopwatch.GetElapsedTime(sequence.AdmittedTicks, sequence.ScheduledTicks);
            foreach (var observer in _observers)
            {
                observer.FirstToken(_settings.Name, ttft, queue);
            }
        }
        else
        {
            var gap = now - sequence.LastTokenTicks;
            sequence.InterTokenTicks.Add(gap);
            var itl = Stopwatch.GetElapsedTime(0, gap);
            foreach (var observer in _observers)
            {
                observer.NextToken(_settings.Name, itl);
            }
        }

        sequence.LastTokenTicks = now;
        var sampling = sequence.Request.Sampling;
        IReadOnlyList<TokenLogprob>? logprobs = null;
        if (sampling.Logprobs is { } top)
        {
            var (chosen, alternatives) = Sampler.Logprobs(logits, token, top);
            logprobs = [new TokenLogprob(token, DecodeOne(token), chosen,
                alternatives.Select(a => (a.Token, DecodeOne(a.Token), a.Logprob)).ToArray())];
        }

        var text = sequence.Text.Add(token);
        FinishReason? finish = null;
        if (sequence.Text.Stopped || (!sampling.IgnoreEos && _settings.EosTokenIds.Contains(token)))
        {
            finish = FinishReason.Stop;
        }
        else if (sequence.Generated >= sampling.MaxTokens || sequence.Tokens.Count >= _settings.ContextLength)
        {
            finish = FinishReason.Length;
        }

        if (finish is null)
        {
            sequence.Updates.Writer.TryWrite(new GenerationUpdate([token], text, logprobs, null, null));
            return;
        }

        if (finish == FinishReason.Stop && !sequence.Text.Stopped)
        {
            text = "";   // the EOS token's text is not part of the completion
        }
        else
        {
            text += sequence.Text.Flush();
        }

        var index = _running.IndexOf(sequence);
        RemoveRunning(index);
        End(sequence, finish.Value, null, new GenerationUpdate([token], text, logprobs, finish, null));
    }

    private string DecodeOne(int token) => _tokenizer.Decode([token]) ?? "";

    private void RemoveRunning(int index)
    {
        var sequence = _running[index];
        _running.RemoveAt(index);
        Interlocked.Decrement(ref _runningCount);
        _cache.Release(sequence);
    }

    /// <summary>Ends a sequence exactly once: the final update (with usage), the counters, the observers.</summary>
    private void End(Sequence sequence, FinishReason reason, string? error, GenerationUpdate? last = null)
    {
        if (sequence.Ended)
        {
            return;
        }

        sequence.Ended = true;
        var usage = sequence.Usage(Stopwatch.GetTimestamp());
        var final = (last ?? new GenerationUpdate([], "", null, reason, null, error)) with { Usage = usage, Finish = reason, Error = error };
        sequence.Updates.Writer.TryWrite(final);
        sequence.Updates.Writer.TryComplete();
        switch (reason)
        {
            case FinishReason.Cancelled:
                Interlocked.Increment(ref _cancelled);
                break;
            case FinishReason.Error:
                Interlocked.Increment(ref _failed);
                break;
            default:
                Interlocked.Increment(ref _finished);
                break;
        }

        var p95 = sequence.P95InterTokenLatency();
        foreach (var observer in _observers)
        {
            observer.SequenceEnded(_settings.Name, sequence.Request.Protocol, reason, usage, p95);
        }
    }

    /// <summary>Stops admitting; sequences already admitted run to their end within <paramref name="drainTimeout"/>, then are cancelled.</summary>
    public async Task DrainAsync(TimeSpan drainTimeout)
    {
        _draining = true;
        var deadline = Stopwatch.GetTimestamp() + (long)(drainTimeout.TotalSeconds * Stopwatch.Frequency);
        while (Volatile.Read(ref _queued) + Volatile.Read(ref _runningCount) > 0 && Stopwatch.GetTimestamp() < deadline)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        foreach (var sequence in _running.Concat(_waiting).Concat(_arrivals).ToArray())
        {
            sequence.RequestCancel();
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _wake.Release();
        await _loop.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await DrainAsync(TimeSpan.Zero).ConfigureAwait(false);
        }

        _stop.Dispose();
        _wake.Dispose();
    }

    private void Wake() => _wake.Release();

    [LoggerMessage(EventId = 4101, Level = LogLevel.Error, Message = "Decoder model '{Model}' failed a step of {Sequences} sequences; they end with an error")]
    private static partial void LogStepFailed(ILogger logger, string model, int sequences, Exception exception);

    /// <summary>The handle a caller reads updates from; disposing it cancels the sequence.</summary>
    private sealed class Handle(SequenceScheduler scheduler, Sequence sequence) : GenerationHandle
    {
        public CancellationTokenRegistration Registration { get; set; }

        public override string Id => sequence.Id;

        public override int PromptTokenCount => sequence.PromptLength;

        public override async IAsyncEnumerable<GenerationUpdate> Updates(
            [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            var reader = sequence.Updates.Reader;
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (reader.TryRead(out var update))
                {
                    yield return update;
                }
            }
        }

        public void Cancel()
        {
            if (sequence.RequestCancel())
            {
                scheduler.Wake();
            }
        }

        public override ValueTask DisposeAsync()
        {
            Registration.Dispose();
            if (!sequence.Updates.Reader.Completion.IsCompleted)
            {
                Cancel();
            }

            return ValueTask.CompletedTask;
        }
    }
}
