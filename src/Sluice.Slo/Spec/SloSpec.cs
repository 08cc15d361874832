using System.Collections.Frozen;
using Sluice.Core.Inference;

namespace Sluice.Slo.Spec;

/// <summary>How the error budget is counted.</summary>
public enum BudgetingMethod
{
    /// <summary>Each event (request) is good or bad; the SLI is good events / all events.</summary>
    Occurrences,
    /// <summary>Each time slice (e.g. one minute) is good or bad; the SLI is good slices / slices with data.</summary>
    Timeslices,
}

/// <summary>The kind of indicator an SLO judges.</summary>
public enum SliKind
{
    /// <summary>Share of successful requests whose chosen phase took at most a threshold.</summary>
    Latency,
    /// <summary>Share of requests that did not fail for a server-side reason.</summary>
    Availability,
    /// <summary>Share of loaded time slices whose throughput reached a fraction of the model's measured peak.</summary>
    Throughput,
    /// <summary>Share of time slices in which a gauge stayed at or below a threshold.</summary>
    Resource,
    /// <summary>Share of loaded time slices whose average batch size or batch hit rate reached a value.</summary>
    Batching,
    /// <summary>Share of generated sequences whose time to first token was at most a threshold.</summary>
    Ttft,
    /// <summary>Share of generated sequences whose mean (or p95) inter-token latency was at most a threshold.</summary>
    Itl,
}

/// <summary>Which part of a request's time a latency SLI judges.</summary>
public enum LatencyPhase
{
    /// <summary>Arrival to response written: includes network parsing and queueing.</summary>
    EndToEnd,
    /// <summary>Time waiting in the model's queue.</summary>
    Queue,
    /// <summary>Compute input + infer + output: the engine's own work for the request's batch.</summary>
    Compute,
    /// <summary>Pure model execution (the runtime's Run), the "GPU-side" time.</summary>
    ComputeInfer,
}

/// <summary>What a batching SLI measures per slice.</summary>
public enum BatchingMeasure
{
    /// <summary>Inferences / executions in the slice.</summary>
    AverageBatchSize,
    /// <summary>Share of executions whose size was a preferred size (or the max when none is set).</summary>
    BatchHitRate,
}

/// <summary>Which per-sequence statistic of the gaps between generated tokens an ITL SLI judges.</summary>
public enum ItlStatistic
{
    /// <summary>The sequence's mean inter-token latency (time per output token after the first).</summary>
    Mean,
    /// <summary>The sequence's 95th percentile inter-token latency: catches stalls that a mean hides.</summary>
    P95,
}

/// <summary>Where a spec element came from, for error messages.</summary>
/// <param name="File">The file name as given to the loader.</param>
/// <param name="Line">1-based line.</param>
/// <param name="Column">1-based column.</param>
public readonly record struct SpecLocation(string File, int Line, int Column)
{
    /// <inheritdoc />
    public override string ToString() => $"{File}:{Line}:{Column}";
}

/// <summary>The indicator of an SLO: one of <see cref="LatencySli"/>, <see cref="AvailabilitySli"/>,
/// <see cref="ThroughputSli"/>, <see cref="ResourceSli"/>, <see cref="BatchingSli"/>, <see cref="TtftSli"/>,
/// <see cref="ItlSli"/>.</summary>
public abstract record SliSpec
{
    /// <summary>The kind, for switches and output.</summary>
    public abstract SliKind Kind { get; }

    /// <summary>True when the SLI counts events (occurrences): requests, or generated sequences for ttft and itl; false when
    /// it judges time slices.</summary>
    public bool IsRequestBased => Kind is SliKind.Latency or SliKind.Availability or SliKind.Ttft or SliKind.Itl;

    /// <summary>True when the SLI's events are generated sequences (ttft, itl) rather than inference requests.</summary>
    public bool IsSequenceBased => Kind is SliKind.Ttft or SliKind.Itl;
}

/// <summary>Good = a successful request whose <paramref name="Phase"/> took at most <paramref name="Threshold"/>.
/// Failed requests are not counted at all (they belong to availability).</summary>
public sealed record LatencySli(LatencyPhase Phase, TimeSpan Threshold) : SliSpec
{
    /// <inheritdoc />
    public override SliKind Kind => SliKind.Latency;
}

/// <summary>Good = a successful request; bad = a request that failed with one of <paramref name="BadReasons"/>.
/// Requests that failed for any other reason (client cancellations, invalid input, unknown model...) are not counted.</summary>
public sealed record AvailabilitySli(FrozenSet<InferenceError> BadReasons) : SliSpec
{
    /// <summary>Server-side failures: the default set of bad reasons.</summary>
    public static readonly FrozenSet<InferenceError> ServerSideFailures = new[]
    {
        InferenceError.ModelNotReady, InferenceError.QueueFull, InferenceError.QueueTimeout,
        InferenceError.Draining, InferenceError.RuntimeFailure,
    }.ToFrozenSet();

    /// <summary>Reasons that are never the server's fault and may never be counted as bad.</summary>
    public static readonly FrozenSet<InferenceError> ClientSideReasons = new[]
    {
        InferenceError.Canceled, InferenceError.InvalidInput, InferenceError.ModelNotFound,
        InferenceError.PayloadTooLarge, InferenceError.Unauthorized,
    }.ToFrozenSet();

    /// <inheritdoc />
    public override SliKind Kind => SliKind.Availability;
}

/// <summary>When a time slice counts as "under load" for throughput and batching SLIs; other slices have no data.</summary>
/// <param name="MinInferencesPerSecond">Least inferences/s in the slice.</param>
/// <param name="MinBackloggedShare">Least share of the slice's executions that left requests waiting in the queue
/// (the model was saturated, so its throughput was the model's to give).</param>
public sealed record LoadCondition(double MinInferencesPerSecond, double MinBackloggedShare);

/// <summary>Good slice = achieved inferences/s ≥ <paramref name="MinFractionOfPeak"/> × the model's measured peak.
/// Without a measured peak the SLO reports no data; a peak is never invented.</summary>
public sealed record ThroughputSli(double MinFractionOfPeak, LoadCondition Load) : SliSpec
{
    /// <inheritdoc />
    public override SliKind Kind => SliKind.Throughput;
}

/// <summary>Good slice = the gauge's highest sample in the slice was at or below <paramref name="Threshold"/>.
/// The objective is derived: 1 − <paramref name="MaxDurationAbove"/> / window.</summary>
/// <param name="Gauge">One of <see cref="KnownGauges"/>.</param>
/// <param name="Threshold">For utilization gauges a fraction (0.85 = 85%).</param>
/// <param name="MaxDurationAbove">Longest time per window the gauge may be above the threshold.</param>
public sealed record ResourceSli(string Gauge, double Threshold, TimeSpan MaxDurationAbove) : SliSpec
{
    /// <summary>Gauge names the server samples (utilizations, as fractions 0..1).</summary>
    public static readonly FrozenSet<string> KnownGauges = new[]
    {
        "gpu_memory_utilization", "gpu_utilization", "process_memory_utilization", "cpu_memory_utilization",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <inheritdoc />
    public override SliKind Kind => SliKind.Resource;
}

/// <summary>Good slice = the measure reached <paramref name="Min"/> in a slice under load.</summary>
public sealed record BatchingSli(BatchingMeasure Measure, double Min, LoadCondition Load) : SliSpec
{
    /// <inheritdoc />
    public override SliKind Kind => SliKind.Batching;
}

/// <summary>Good = a sequence that finished (stop or length) whose time to first token, admission to first token, was at
/// most <paramref name="Threshold"/>; bad = such a sequence over it, or a sequence that failed in the runtime. Sequences
/// cancelled by their client, and finished ones that produced no token, are not counted.</summary>
public sealed record TtftSli(TimeSpan Threshold) : SliSpec
{
    /// <inheritdoc />
    public override SliKind Kind => SliKind.Ttft;
}

/// <summary>Good = a sequence that finished (stop or length) with at least two tokens whose <paramref name="Statistic"/> of
/// inter-token latency was at most <paramref name="Threshold"/>; bad = such a sequence over it, or a sequence that failed in
/// the runtime. Cancelled sequences and sequences of fewer than two tokens (no gap to judge) are not counted.</summary>
public sealed record ItlSli(TimeSpan Threshold, ItlStatistic Statistic = ItlStatistic.Mean) : SliSpec
{
    /// <inheritdoc />
    public override SliKind Kind => SliKind.Itl;
}

/// <summary>One alert severity's settings.</summary>
/// <param name="Enabled">False to generate no alert of this severity.</param>
/// <param name="For">How long the condition must hold before pending becomes firing (Prometheus <c>for</c>).</param>
/// <param name="Labels">Extra labels on the alert.</param>
/// <param name="Annotations">Extra annotations on the alert.</param>
public sealed record AlertSeverityPolicy(
    bool Enabled, TimeSpan For, IReadOnlyDictionary<string, string> Labels, IReadOnlyDictionary<string, string> Annotations)
{
    /// <summary>Default page settings: enabled, for 2 minutes.</summary>
    public static AlertSeverityPolicy DefaultPage { get; } =
        new(true, TimeSpan.FromMinutes(2), new Dictionary<string, string>(), new Dictionary<string, string>());

    /// <summary>Default ticket settings: enabled, for 15 minutes.</summary>
    public static AlertSeverityPolicy DefaultTicket { get; } =
        new(true, TimeSpan.FromMinutes(15), new Dictionary<string, string>(), new Dictionary<string, string>());
}

/// <summary>Alerting for one SLO: the SRE workbook's page and ticket burn-rate alerts.</summary>
public sealed record AlertingSpec(string? RunbookUrl, AlertSeverityPolicy Page, AlertSeverityPolicy Ticket)
{
    /// <summary>Both severities enabled with their defaults and no runbook.</summary>
    public static AlertingSpec Default { get; } = new(null, AlertSeverityPolicy.DefaultPage, AlertSeverityPolicy.DefaultTicket);
}

/// <summary>One service level objective, validated and immutable.</summary>
public sealed record SloSpec
{
    /// <summary>Unique name (lowercase letters, digits, '-', '_'); the <c>slo</c> label of every metric.</summary>
    public required string Name { get; init; }

    /// <summary>The service the SLO belongs to (a label; defaults to "sluice").</summary>
    public string Service { get; init; } = "sluice";

    /// <summary>The model the SLO judges.</summary>
    public required string Model { get; init; }

    /// <summary>A specific version, or null for every version of the model.</summary>
    public string? ModelVersion { get; init; }

    /// <summary>Free text for humans.</summary>
    public string Description { get; init; } = "";

    /// <summary>The target share of good events or slices, as a ratio (0.999 for 99.9%).</summary>
    public required double Objective { get; init; }

    /// <summary>The rolling window the objective applies to.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Occurrences for request-based SLIs, timeslices for the others.</summary>
    public required BudgetingMethod BudgetingMethod { get; init; }

    /// <summary>The length of one time slice (timeslices budgeting).</summary>
    public TimeSpan TimesliceLength { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The indicator.</summary>
    public required SliSpec Sli { get; init; }

    /// <summary>Page and ticket alerting.</summary>
    public AlertingSpec Alerting { get; init; } = AlertingSpec.Default;

    /// <summary>Where the SLO was declared.</summary>
    public SpecLocation Location { get; init; }

    /// <summary>The allowed share of bad events or slices: 1 − <see cref="Objective"/>.</summary>
    public double ErrorBudget => 1 - Objective;
}
