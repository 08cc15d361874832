using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Sluice.Core.Generation;

namespace Sluice.Server.Telemetry;

/// <summary>
/// The LLM serving instruments (meter <see cref="MeterName"/>), fed as an <see cref="IGenerationObserver"/>: named after vLLM's
/// with <c>sluice_llm_</c> in place of <c>vllm:</c> and the same <c>model_name</c> label, so vLLM dashboards map by renaming
/// the prefix. Latency histograms are in seconds, with SLO-aligned buckets (<see cref="LatencyBuckets.BuildGeneration"/>).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Per token, as tokens arrive (every sequence, whatever its end): <c>sluice_llm_time_to_first_token_seconds</c>,
/// <c>sluice_llm_inter_token_latency_seconds</c>, and <c>sluice_llm_generation_tokens_total</c>.</item>
/// <item>Per scheduler step: <c>sluice_llm_prompt_tokens_total</c> (prompt tokens prefilled, as vLLM counts them),
/// <c>sluice_llm_prefill_step_time_seconds</c>, <c>sluice_llm_decode_step_time_seconds</c> (one observation per step that ran
/// that phase; Sluice's own, vLLM has none) and <c>sluice_llm_iteration_tokens_total</c> (tokens per step, a histogram as in
/// vLLM).</item>
/// <item>Per ended sequence: <c>sluice_llm_request_success_total{finished_reason}</c> with vLLM's reasons <c>stop</c>,
/// <c>length</c>, <c>abort</c> (cancelled) and <c>error</c>; for finished sequences (stop, length) only, like the other
/// request histograms of Sluice: <c>sluice_llm_e2e_request_latency_seconds</c>, <c>_request_queue_time_seconds</c>,
/// <c>_request_prefill_time_seconds</c> (queue end to first token), <c>_request_decode_time_seconds</c> (first token to end),
/// <c>_request_inference_time_seconds</c> (queue end to end), <c>_request_time_per_output_token_seconds</c> (the sequence's
/// mean inter-token latency, with two tokens or more), <c>_request_prompt_tokens</c> and <c>_request_generation_tokens</c>.</item>
/// <item>Gauges read from <see cref="IGenerationService.GetStats"/> at collection: <c>sluice_llm_num_requests_running</c>,
/// <c>sluice_llm_num_requests_waiting</c>, <c>sluice_llm_kv_cache_usage_perc</c> (0..1). The service is resolved lazily (it
/// resolves its observers, this among them) and may be absent: then the gauges report nothing.</item>
/// </list>
/// Counters are observable, read from interlocked per-model counts; every model the service reports has them from load on, at 0.
/// </remarks>
public sealed class GenerationMetrics : IGenerationObserver
{
    /// <summary>The meter name (exported: it matches <c>Sluice.*</c>).</summary>
    public const string MeterName = "Sluice.Llm";

    /// <summary>The model label on every series, vLLM's name for it.</summary>
    public const string ModelLabel = "model_name";

    /// <summary>The finish reason label of <c>sluice_llm_request_success_total</c>.</summary>
    public const string FinishedReasonLabel = "finished_reason";

    /// <summary>Label values of <see cref="FinishReason"/>, indexed by its value: vLLM's words (a cancelled request is "abort").</summary>
    internal static readonly string[] FinishedReasons = ["stop", "length", "abort", "error"];

    /// <summary>Buckets of the token-count histograms: 1-2-5 per decade, as vLLM builds them, up to 200k tokens.</summary>
    private static readonly long[] TokenBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000];

    /// <summary>Buckets of the tokens-per-step histogram: vLLM's.</summary>
    private static readonly long[] IterationBuckets = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];

    /// <summary>Cumulative counts per model, written with <see cref="Interlocked"/> on the scheduler thread, read at collection.</summary>
    private readonly ConcurrentDictionary<string, Counts> _counts = new(StringComparer.Ordinal);

    /// <summary>The generation service, resolved at the first collection that needs it (null when the host has none).</summary>
    private readonly Lazy<IGenerationService?> _service;

    private readonly Histogram<double> _timeToFirstToken, _interTokenLatency, _endToEnd, _queue, _prefill, _decode, _inference,
        _timePerOutputToken, _prefillStep, _decodeStep;

    private readonly Histogram<long> _promptTokensPerRequest, _generationTokensPerRequest, _iterationTokens;

    /// <summary>Creates the instruments.</summary>
    /// <param name="meterFactory">The host's meter factory.</param>
    /// <param name="latencyBuckets">Boundaries of the latency histograms, in seconds.</param>
    /// <param name="generationService">Resolves the generation service (once, lazily); may return null.</param>
    public GenerationMetrics(IMeterFactory meterFactory, IReadOnlyList<double> latencyBuckets, Func<IGenerationService?> generationService)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(latencyBuckets);
        ArgumentNullException.ThrowIfNull(generationService);
        _service = new Lazy<IGenerationService?>(generationService, LazyThreadSafetyMode.PublicationOnly);
        var meter = meterFactory.Create(MeterName);
        var latency = new InstrumentAdvice<double> { HistogramBucketBoundaries = latencyBuckets };
        var tokens = new InstrumentAdvice<long> { HistogramBucketBoundaries = TokenBuckets };

        // :: Per token.
        _timeToFirstToken = meter.CreateHistogram("sluice_llm_time_to_first_token", unit: "s",
            description: "Time to first token: admission to the first generated token.", advice: latency);
        _interTokenLatency = meter.CreateHistogram("sluice_llm_inter_token_latency", unit: "s",
            description: "Time between consecutive generated tokens of a sequence, one observation per token after the first.", advice: latency);
        meter.CreateObservableCounter("sluice_llm_generation_tokens", () => Read(static c => c.GenerationTokens), unit: "{token}",
            description: "Number of generation tokens processed.");

        // :: Per scheduler step.
        meter.CreateObservableCounter("sluice_llm_prompt_tokens", () => Read(static c => c.PromptTokens), unit: "{token}",
            description: "Number of prefill tokens processed.");
        _prefillStep = meter.CreateHistogram("sluice_llm_prefill_step_time", unit: "s",
            description: "Time of one scheduler step's prefill run (all sequences prefilled in that step).", advice: latency);
        _decodeStep = meter.CreateHistogram("sluice_llm_decode_step_time", unit: "s",
            description: "Time of one scheduler step's decode run (one token for every running sequence).", advice: latency);
        _iterationTokens = meter.CreateHistogram<long>("sluice_llm_iteration_tokens_total", unit: "{token}",
            description: "Histogram of number of tokens per engine step (prompt tokens prefilled + sequences decoded).",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = IterationBuckets });

        // :: Per ended sequence.
        meter.CreateObservableCounter("sluice_llm_request_success", ReadFinished, unit: "{request}",
            description: "Count of processed requests by finish reason (stop, length, abort = cancelled, error).");
        _endToEnd = meter.CreateHistogram("sluice_llm_e2e_request_latency", unit: "s",
            description: "End-to-end latency of finished sequences: admission to the last token.", advice: latency);
        _queue = meter.CreateHistogram("sluice_llm_request_queue_time", unit: "s",
            description: "Time finished sequences waited before being scheduled.", advice: latency);
        _prefill = meter.CreateHistogram("sluice_llm_request_prefill_time", unit: "s",
            description: "Time of finished sequences from first scheduled to first token (prefill).", advice: latency);
        _decode = meter.CreateHistogram("sluice_llm_request_decode_time", unit: "s",
            description: "Time of finished sequences from first token to last token (decode).", advice: latency);
        _inference = meter.CreateHistogram("sluice_llm_request_inference_time", unit: "s",
            description: "Time of finished sequences from first scheduled to last token (prefill + decode).", advice: latency);
        _timePerOutputToken = meter.CreateHistogram("sluice_llm_request_time_per_output_token", unit: "s",
            description: "Mean inter-token latency of each finished sequence of two tokens or more.", advice: latency);
        _promptTokensPerRequest = meter.CreateHistogram<long>("sluice_llm_request_prompt_tokens", unit: "{token}",
            description: "Number of prompt tokens of finished sequences.", advice: tokens);
        _generationTokensPerRequest = meter.CreateHistogram<long>("sluice_llm_request_generation_tokens", unit: "{token}",
            description: "Number of generated tokens of finished sequences.", advice: tokens);

        // :: Scheduler state, read from the service.
        meter.CreateObservableGauge("sluice_llm_num_requests_running", () => ReadStats(static s => s.Running),
            description: "Number of sequences in the running batch.");
        meter.CreateObservableGauge("sluice_llm_num_requests_waiting", () => ReadStats(static s => s.Waiting),
            description: "Number of admitted sequences waiting for a slot or KV cache.");
        meter.CreateObservableGauge("sluice_llm_kv_cache_usage_perc", ReadKvCacheUsage,
            description: "KV-cache usage. 1 means 100 percent usage.");
    }

    /// <inheritdoc />
    public void FirstToken(string model, TimeSpan timeToFirstToken, TimeSpan queue)
    {
        Interlocked.Increment(ref For(model).GenerationTokens);
        _timeToFirstToken.Record(timeToFirstToken.TotalSeconds, Model(model));
    }

    /// <inheritdoc />
    public void NextToken(string model, TimeSpan interTokenLatency)
    {
        Interlocked.Increment(ref For(model).GenerationTokens);
        _interTokenLatency.Record(interTokenLatency.TotalSeconds, Model(model));
    }

    /// <inheritdoc />
    public void SequenceEnded(string model, string protocol, FinishReason reason, GenerationUsage usage, TimeSpan p95InterTokenLatency)
    {
        var index = (int)reason;
        if ((uint)index < (uint)FinishedReasons.Length)
        {
            Interlocked.Increment(ref For(model).Finished[index]);
        }

        if (reason is not (FinishReason.Stop or FinishReason.Length) || usage is null)
        {
            return;   // a cancelled or failed sequence has no latency to judge; its tokens were counted as they came
        }

        var tag = Model(model);
        var queue = usage.Queue;
        var firstToken = Max(usage.TimeToFirstToken, queue);
        var end = Max(usage.EndToEnd, firstToken);
        _endToEnd.Record(end.TotalSeconds, tag);
        _queue.Record(queue.TotalSeconds, tag);
        _prefill.Record((firstToken - queue).TotalSeconds, tag);
        _decode.Record((end - firstToken).TotalSeconds, tag);
        _inference.Record((end - queue).TotalSeconds, tag);
        if (usage.CompletionTokens >= 2)
        {
            _timePerOutputToken.Record(usage.MeanInterTokenLatency.TotalSeconds, tag);
        }

        _promptTokensPerRequest.Record(usage.PromptTokens, tag);
        _generationTokensPerRequest.Record(usage.CompletionTokens, tag);
    }

    /// <inheritdoc />
    public void StepExecuted(in GenerationStep step)
    {
        if (step.PrefillTokens > 0)
        {
            Interlocked.Add(ref For(step.Model).PromptTokens, step.PrefillTokens);
        }

        var tag = Model(step.Model);
        if (step.PrefillSequences > 0)
        {
            _prefillStep.Record(step.PrefillTime.TotalSeconds, tag);
        }

        if (step.DecodeSequences > 0)
        {
            _decodeStep.Record(step.DecodeTime.TotalSeconds, tag);
        }

        var stepTokens = (long)step.PrefillTokens + step.DecodeSequences;
        if (stepTokens > 0)
        {
            _iterationTokens.Record(stepTokens, tag);
        }
    }

    private Counts For(string model) => _counts.GetOrAdd(model, static _ => new Counts());

    private static KeyValuePair<string, object?> Model(string model) => new(ModelLabel, model);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>The service's stats, or none when there is no service or it cannot answer now.</summary>
    private IReadOnlyList<GenerationModelStats> Stats()
    {
        try
        {
            return _service.Value?.GetStats() ?? [];
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            return [];   // resolved while the host stops, or a service that cannot be built: no gauges this collection
        }
    }

    /// <summary>Makes sure every model the service reports has its counts (at 0), so its series exist from load on.</summary>
    private void SeedFromService()
    {
        foreach (var stats in Stats())
        {
            For(stats.Model);
        }
    }

    private IEnumerable<Measurement<long>> Read(Func<Counts, long> read)
    {
        SeedFromService();
        foreach (var (model, counts) in _counts)
        {
            yield return new Measurement<long>(read(counts), Model(model));
        }
    }

    private IEnumerable<Measurement<long>> ReadFinished()
    {
        SeedFromService();
        foreach (var (model, counts) in _counts)
        {
            for (var reason = 0; reason < FinishedReasons.Length; reason++)
            {
                yield return new Measurement<long>(Interlocked.Read(ref counts.Finished[reason]),
                    new KeyValuePair<string, object?>(FinishedReasonLabel, FinishedReasons[reason]), Model(model));
            }
        }
    }

    private IEnumerable<Measurement<int>> ReadStats(Func<GenerationModelStats, int> read) =>
        Stats().Select(s => new Measurement<int>(read(s), Model(s.Model)));

    private IEnumerable<Measurement<double>> ReadKvCacheUsage() =>
        Stats().Select(static s => new Measurement<double>(s.KvCacheUsage, Model(s.Model)));

    /// <summary>One model's cumulative counts.</summary>
    private sealed class Counts
    {
        /// <summary>Prompt tokens prefilled.</summary>
        public long PromptTokens;

        /// <summary>Tokens generated (first tokens and later ones).</summary>
        public long GenerationTokens;

        /// <summary>Ended sequences by <see cref="FinishReason"/>.</summary>
        public readonly long[] Finished = new long[FinishedReasons.Length];
    }
}
