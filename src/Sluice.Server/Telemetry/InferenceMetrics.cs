using System.Diagnostics;
using System.Diagnostics.Metrics;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Engine.Hosting;

namespace Sluice.Server.Telemetry;

/// <summary>
/// The per-request and per-batch instruments (meter <see cref="MeterName"/>): Triton's <c>nv_inference_*</c> counters under
/// their exact names, and what Triton lacks: latency histograms in seconds per phase, batching histograms and ratios, and
/// queue depth and in-flight gauges.
/// </summary>
/// <remarks>
/// Triton's counters are observable: they read <see cref="ModelCounters"/> (plain interlocked adds on the hot path) at
/// collection, and every loaded model version reports them from load on, at 0, as Triton does. Failures of requests for
/// models that are not loaded (unknown names, typos) are not counted: their label values would be the client's to choose.
/// </remarks>
public sealed class InferenceMetrics
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Sluice";

    private readonly ModelCounterTable _table = new();
    private readonly LoadedModels _loaded;
    private readonly Histogram<double> _requestDuration, _queueDuration, _computeInputDuration, _computeInferDuration, _computeOutputDuration;
    private readonly Histogram<long> _batchSize;

    /// <summary>Creates the instruments; <paramref name="latencyBuckets"/> are the histograms' boundaries in seconds.</summary>
    public InferenceMetrics(IMeterFactory meterFactory, LoadedModels models, IReadOnlyList<double> latencyBuckets)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _loaded = models;
        var meter = meterFactory.Create(MeterName);
        var advice = new InstrumentAdvice<double> { HistogramBucketBoundaries = latencyBuckets };

        // :: Triton's counters, exact names; cumulative microseconds as Triton keeps them.
        meter.CreateObservableCounter("nv_inference_request_success", () => Read(static c => c.Success),
            description: "Number of successful inference requests, all batch sizes");
        meter.CreateObservableCounter("nv_inference_request_failure", ReadFailures,
            description: "Number of failed inference requests, all batch sizes, by reason");
        meter.CreateObservableCounter("nv_inference_count", () => Read(static c => c.InferenceCount),
            description: "Number of inferences performed (batch rows; failures not counted)");
        meter.CreateObservableCounter("nv_inference_exec_count", () => Read(static c => c.ExecutionCount),
            description: "Number of model executions performed (batches)");
        meter.CreateObservableCounter("nv_inference_request_duration_us", () => Read(static c => c.RequestUs),
            description: "Cumulative end-to-end inference request handling time of successful requests, in microseconds");
        meter.CreateObservableCounter("nv_inference_queue_duration_us", () => Read(static c => c.QueueUs),
            description: "Cumulative time requests spent waiting in the scheduling queue, in microseconds");
        meter.CreateObservableCounter("nv_inference_compute_input_duration_us", () => Read(static c => c.ComputeInputUs),
            description: "Cumulative compute input duration, in microseconds");
        meter.CreateObservableCounter("nv_inference_compute_infer_duration_us", () => Read(static c => c.ComputeInferUs),
            description: "Cumulative compute inference duration, in microseconds");
        meter.CreateObservableCounter("nv_inference_compute_output_duration_us", () => Read(static c => c.ComputeOutputUs),
            description: "Cumulative compute output duration, in microseconds");
        meter.CreateObservableGauge("nv_inference_pending_request_count", () => ReadLoad(static l => l.Queued),
            description: "Instantaneous number of pending requests awaiting execution, per model");

        // :: Histograms in seconds, per model/version, successful requests only (a failure has no latency to judge).
        _requestDuration = meter.CreateHistogram("sluice_request_duration", unit: "s",
            description: "End-to-end time of successful requests: arrival to response written.", advice: advice);
        _queueDuration = meter.CreateHistogram("sluice_request_queue_duration", unit: "s",
            description: "Time successful requests waited in the model's queue.", advice: advice);
        _computeInputDuration = meter.CreateHistogram("sluice_request_compute_input_duration", unit: "s",
            description: "Time preparing and binding the inputs of a successful request's batch.", advice: advice);
        _computeInferDuration = meter.CreateHistogram("sluice_request_compute_infer_duration", unit: "s",
            description: "Pure model execution time of a successful request's batch.", advice: advice);
        _computeOutputDuration = meter.CreateHistogram("sluice_request_compute_output_duration", unit: "s",
            description: "Time copying and splitting the outputs of a successful request's batch.", advice: advice);

        // :: Batching.
        _batchSize = meter.CreateHistogram<long>("sluice_batch_size", unit: null,
            description: "Rows per model execution.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256] });
        meter.CreateObservableCounter("sluice_batch_preferred_hits", () => Read(static c => c.PreferredHits),
            description: "Executions whose size was a preferred batch size (or the max when none is set).");
        meter.CreateObservableGauge("sluice_batch_average_size", () => Ratio(static c => c.InferenceCount, static c => c.ExecutionCount),
            description: "Inferences per execution since start (nv_inference_count / nv_inference_exec_count).");
        meter.CreateObservableGauge("sluice_batch_fill_ratio", () => Ratio(static c => c.BatchedRows, static c => c.BatchCapacity),
            description: "Rows executed / (executions x max_batch_size) since start, for models that batch.");
        meter.CreateObservableGauge("sluice_batch_hit_rate", () => Ratio(static c => c.PreferredHits, static c => c.ExecutionCount),
            description: "Share of executions whose size was a preferred size (or the max when none is set), since start.");
        meter.CreateObservableGauge("sluice_queue_depth", () => ReadLoad(static l => l.Queued),
            description: "Requests waiting in the model's queue now.");
        meter.CreateObservableGauge("sluice_inflight_requests", () => ReadLoad(static l => l.InFlight),
            description: "Requests admitted by the engine and not finished (queued or executing) now.");
        meter.CreateObservableGauge("sluice_queue_expected_wait_seconds", ReadExpectedWait, unit: "s",
            description: "How long the queued rows would take to drain, from the time per row of batches that ran while others "
                + "waited; requests whose queue timeout is shorter are refused on arrival. Absent until such a batch ran.");
    }

    /// <summary>Records one finished request (called by the telemetry observer).</summary>
    public void RequestCompleted(in RequestCompletion completion)
    {
        if (ResolveVersion(completion.ModelName, completion.ModelVersion) is not { } version)
        {
            return;   // not a loaded model: no series for arbitrary client-chosen names
        }

        var counters = _table.For(completion.ModelName, version);
        if (completion.Error != InferenceError.None)
        {
            Interlocked.Increment(ref counters.Failure[FailureReasons.Of(completion.Error)]);
            return;
        }

        var t = completion.Timestamps;
        Interlocked.Increment(ref counters.Success);
        Interlocked.Add(ref counters.RequestUs, Microseconds(t.EndToEndDuration));
        Interlocked.Add(ref counters.QueueUs, Microseconds(t.QueueDuration));
        Interlocked.Add(ref counters.ComputeInputUs, Microseconds(t.ComputeInputDuration));
        Interlocked.Add(ref counters.ComputeInferUs, Microseconds(t.ComputeInferDuration));
        Interlocked.Add(ref counters.ComputeOutputUs, Microseconds(t.ComputeOutputDuration));

        if (_requestDuration.Enabled)
        {
            var tags = new TagList { { "model", completion.ModelName }, { "version", version } };
            _requestDuration.Record(t.EndToEndDuration.TotalSeconds, tags);
            _queueDuration.Record(t.QueueDuration.TotalSeconds, tags);
            _computeInputDuration.Record(t.ComputeInputDuration.TotalSeconds, tags);
            _computeInferDuration.Record(t.ComputeInferDuration.TotalSeconds, tags);
            _computeOutputDuration.Record(t.ComputeOutputDuration.TotalSeconds, tags);
        }
    }

    /// <summary>Records one executed batch.</summary>
    public void BatchExecuted(in BatchExecution execution)
    {
        var counters = _table.For(execution.ModelName, execution.ModelVersion);
        Interlocked.Add(ref counters.InferenceCount, execution.BatchSize);
        Interlocked.Increment(ref counters.ExecutionCount);
        if (execution.IsPreferredSize)
        {
            Interlocked.Increment(ref counters.PreferredHits);
        }

        if (execution.MaxBatchSize > 0)
        {
            Interlocked.Add(ref counters.BatchCapacity, execution.MaxBatchSize);
            Interlocked.Add(ref counters.BatchedRows, execution.BatchSize);
        }

        if (_batchSize.Enabled)
        {
            _batchSize.Record(execution.BatchSize, new TagList { { "model", execution.ModelName }, { "version", execution.ModelVersion } });
        }
    }

    /// <summary>The version label of a request: the one that ran or was asked for, else the model's current one; null when not loaded.</summary>
    private string? ResolveVersion(string model, string version) => _loaded.Models.ResolveLoadedVersion(model, version);

    private static long Microseconds(TimeSpan span) => span.Ticks / TimeSpan.TicksPerMicrosecond;

    /// <summary>Makes sure every loaded version has its counters (at 0), so its series exist from load on.</summary>
    private void SeedLoaded()
    {
        foreach (var load in _loaded.Models.GetLoad())
        {
            _table.For(load.ModelName, load.ModelVersion);
        }
    }

    private IEnumerable<Measurement<long>> Read(Func<ModelCounters, long> read)
    {
        SeedLoaded();
        foreach (var ((model, version), counters) in _table.All)
        {
            yield return new Measurement<long>(read(counters), Tag("model", model), Tag("version", version));
        }
    }

    private IEnumerable<Measurement<long>> ReadFailures()
    {
        SeedLoaded();
        foreach (var ((model, version), counters) in _table.All)
        {
            for (var reason = 0; reason < FailureReasons.Count; reason++)
            {
                yield return new Measurement<long>(Interlocked.Read(ref counters.Failure[reason]),
                    Tag("model", model), Tag("reason", FailureReasons.Labels[reason]), Tag("version", version));
            }
        }
    }

    private IEnumerable<Measurement<double>> Ratio(Func<ModelCounters, long> numerator, Func<ModelCounters, long> denominator)
    {
        foreach (var ((model, version), counters) in _table.All)
        {
            var d = denominator(counters);
            if (d > 0)
            {
                yield return new Measurement<double>((double)numerator(counters) / d, Tag("model", model), Tag("version", version));
            }
        }
    }

    private IEnumerable<Measurement<long>> ReadLoad(Func<Sluice.Engine.Telemetry.ModelVersionLoad, long> read)
    {
        foreach (var load in _loaded.Models.GetLoad())
        {
            yield return new Measurement<long>(read(load), Tag("model", load.ModelName), Tag("version", load.ModelVersion));
        }
    }

    private IEnumerable<Measurement<double>> ReadExpectedWait()
    {
        foreach (var load in _loaded.Models.GetLoad())
        {
            if (load.ExpectedQueueWait is { } wait)
            {
                yield return new Measurement<double>(wait.TotalSeconds, Tag("model", load.ModelName), Tag("version", load.ModelVersion));
            }
        }
    }

    private static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);
}
