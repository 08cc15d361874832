using System.Collections.Concurrent;
using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Core.Inference;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Evaluation;

/// <summary>
/// Evaluates SLOs in-process: counts events and slices (<see cref="ISloEventSink"/>), and at each <see cref="Evaluate"/>
/// computes SLIs, error budgets, burn rates and the page/ticket alerts, raising <see cref="AlertTransitioned"/> on changes.
/// </summary>
/// <remarks>
/// <para>Recording is lock-free and O(SLOs of that model): two Interlocked increments per matching SLO, no per-request
/// memory and no clock read. The counters are cumulative, like Prometheus counters, and are exported as such
/// (<see cref="GetCounters"/>), so Prometheus and this engine count exactly the same events.</para>
/// <para>Each <see cref="Evaluate"/> (one thread at a time; the evaluation loop calls it every
/// <see cref="DefaultEvaluationInterval"/>):</para>
/// <list type="number">
/// <item>closes finished time slices and judges them good, bad or no data;</item>
/// <item>moves each SLO's counter increase since the last evaluation into the minute bucket of "now"
/// (<see cref="BucketClock"/>); a decrease is a counter reset;</item>
/// <item>sums the buckets over 5m … 3d and the SLO window; computes SLI, budget, burn rates and time to exhaustion;</item>
/// <item>advances the alert state machines and raises a transition event for each change.</item>
/// </list>
/// </remarks>
public sealed class SloEvaluator : ISloEventSink
{
    /// <summary>The default evaluation interval.</summary>
    public static readonly TimeSpan DefaultEvaluationInterval = TimeSpan.FromSeconds(30);

    /// <summary>Every SLO's state, in spec order.</summary>
    private readonly SloState[] _states;

    /// <summary>Request-based SLO states (latency, availability) by model name.</summary>
    private readonly FrozenDictionary<string, SloState[]> _requestSlosByModel;

    /// <summary>Sequence-based SLO states (ttft, itl) by model name.</summary>
    private readonly FrozenDictionary<string, SloState[]> _sequenceSlosByModel;

    /// <summary>Throughput and batching SLO states by model name.</summary>
    private readonly FrozenDictionary<string, SloState[]> _executionSlosByModel;

    /// <summary>Resource SLO states by gauge name.</summary>
    private readonly FrozenDictionary<string, SloState[]> _resourceSlosByGauge;

    /// <summary>States by SLO name.</summary>
    private readonly FrozenDictionary<string, SloState> _byName;

    /// <summary>Measured peaks by model; written by <see cref="SetPeak"/>, read at slice ends.</summary>
    private readonly ConcurrentDictionary<string, double> _peaks = new(StringComparer.Ordinal);

    /// <summary>Serializes <see cref="Evaluate"/> and the restore/read methods of the history store.</summary>
    private readonly Lock _evaluationLock = new();

    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;

    /// <summary>The statuses of the last evaluation, replaced as a whole (readers never see half of one).</summary>
    private IReadOnlyList<SloStatus> _statuses = [];

    /// <summary>Creates an evaluator for the given SLOs.</summary>
    public SloEvaluator(IEnumerable<SloSpec> slos, TimeProvider timeProvider, ILogger<SloEvaluator>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(slos);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _timeProvider = timeProvider;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        var now = timeProvider.GetUtcNow();
        _states = slos.Select(s => new SloState(s, now)).ToArray();
        _byName = _states.ToFrozenDictionary(s => s.Spec.Name, StringComparer.Ordinal);
        _requestSlosByModel = Group(_states.Where(s => s.Spec.Sli.IsRequestBased && !s.Spec.Sli.IsSequenceBased), s => s.Spec.Model);
        _sequenceSlosByModel = Group(_states.Where(s => s.Spec.Sli.IsSequenceBased), s => s.Spec.Model);
        _executionSlosByModel = Group(_states.Where(s => s.Spec.Sli is ThroughputSli or BatchingSli), s => s.Spec.Model);
        _resourceSlosByGauge = Group(_states.Where(s => s.Spec.Sli is ResourceSli), s => ((ResourceSli)s.Spec.Sli).Gauge);
    }

    /// <summary>Raised on the evaluation thread for each alert state change.</summary>
    public event Action<AlertTransition>? AlertTransitioned;

    /// <summary>The SLOs, in spec order.</summary>
    public IReadOnlyList<SloSpec> Slos => Array.ConvertAll(_states, s => s.Spec);

    /// <summary>The statuses of the last evaluation (empty before the first).</summary>
    public IReadOnlyList<SloStatus> Statuses => Volatile.Read(ref _statuses);

    /// <summary>The status of one SLO at the last evaluation, or null when unknown or not yet evaluated.</summary>
    public SloStatus? GetStatus(string name) => Statuses.FirstOrDefault(s => s.Spec.Name == name);

    /// <inheritdoc />
    public void Record(in RequestOutcome outcome)
    {
        if (!_requestSlosByModel.TryGetValue(outcome.ModelName, out var states))
        {
            return;
        }

        foreach (var state in states)
        {
            Count(state, SloEventClassifier.Classify(state.Spec, outcome));
        }
    }

    /// <inheritdoc />
    public void RecordSequence(in SequenceOutcome outcome)
    {
        if (!_sequenceSlosByModel.TryGetValue(outcome.ModelName, out var states))
        {
            return;
        }

        foreach (var state in states)
        {
            Count(state, SloEventClassifier.Classify(state.Spec, outcome));
        }
    }

    private static void Count(SloState state, SloEventOutcome outcome)
    {
        switch (outcome)
        {
            case SloEventOutcome.Good:
                Interlocked.Increment(ref state.Good);
                break;
            case SloEventOutcome.Bad:
                Interlocked.Increment(ref state.Bad);
                break;
        }
    }

    /// <inheritdoc />
    public void RecordExecution(in ExecutionOutcome execution)
    {
        if (!_executionSlosByModel.TryGetValue(execution.ModelName, out var states))
        {
            return;
        }

        foreach (var state in states)
        {
            Interlocked.Add(ref state.SliceInferences, execution.BatchSize);
            Interlocked.Increment(ref state.SliceExecutions);
            if (execution.PreferredSize)
            {
                Interlocked.Increment(ref state.SlicePreferred);
            }

            if (execution.Backlogged)
            {
                Interlocked.Increment(ref state.SliceBacklogged);
            }
        }
    }

    /// <inheritdoc />
    public void RecordExecutions(string modelName, long inferences, long executions, long preferredSizeExecutions, long backloggedExecutions)
    {
        if (executions <= 0 || !_executionSlosByModel.TryGetValue(modelName, out var states))
        {
            return;
        }

        foreach (var state in states)
        {
            Interlocked.Add(ref state.SliceInferences, inferences);
            Interlocked.Add(ref state.SliceExecutions, executions);
            Interlocked.Add(ref state.SlicePreferred, preferredSizeExecutions);
            Interlocked.Add(ref state.SliceBacklogged, backloggedExecutions);
        }
    }

    /// <inheritdoc />
    public void RecordGauge(string gauge, double value)
    {
        if (double.IsFinite(value) && _resourceSlosByGauge.TryGetValue(gauge, out var states))
        {
            foreach (var state in states)
            {
                state.RecordGauge(value);
            }
        }
    }

    /// <inheritdoc />
    public void SetPeak(string modelName, double? inferencesPerSecond)
    {
        if (inferencesPerSecond is { } peak && peak > 0 && double.IsFinite(peak))
        {
            _peaks[modelName] = peak;
        }
        else
        {
            _peaks.TryRemove(modelName, out _);
        }
    }

    /// <summary>Cumulative good/bad counts per SLO since this process started: export them as
    /// <see cref="SloMetricNames.Events"/> or <see cref="SloMetricNames.Timeslices"/>.</summary>
    public IReadOnlyList<SloCounterSnapshot> GetCounters() =>
        Array.ConvertAll(_states, s => new SloCounterSnapshot(s.Spec, Volatile.Read(ref s.Good), Volatile.Read(ref s.Bad)));

    /// <summary>
    /// Feeds cumulative counter values kept elsewhere (e.g. replayed from Prometheus samples) for one SLO at the current time,
    /// instead of <see cref="Record"/>. A value lower than the previous one is a counter reset, as in Prometheus.
    /// </summary>
    public void IngestCumulative(string sloName, long good, long bad)
    {
        var state = _byName[sloName];
        lock (_evaluationLock)
        {
            var (dGood, dBad) = SloState.Delta(good, bad, ref state.ExternalGood, ref state.ExternalBad);
            state.Buckets.Add(BucketClock.BucketOf(_timeProvider.GetUtcNow()), dGood, dGood + dBad);
        }
    }

    /// <summary>Runs one evaluation at the current time; returns (and publishes) every SLO's status.</summary>
    public IReadOnlyList<SloStatus> Evaluate()
    {
        var transitions = new List<AlertTransition>();
        SloStatus[] statuses;
        lock (_evaluationLock)
        {
            var now = _timeProvider.GetUtcNow();
            long endBucket = BucketClock.BucketOf(now);
            statuses = new SloStatus[_states.Length];
            for (int i = 0; i < _states.Length; i++)
            {
                var state = _states[i];

                // :: Step 1: close the time slice.
                if (!state.Spec.Sli.IsRequestBased && now >= state.SliceStart + state.Spec.TimesliceLength)
                {
                    CloseSlice(state, now);
                }

                // :: Step 2: move the counters' increase into the current bucket.
                var (dGood, dBad) = SloState.Delta(Volatile.Read(ref state.Good), Volatile.Read(ref state.Bad),
                    ref state.IngestedGood, ref state.IngestedBad);
                if (dGood + dBad > 0)
                {
                    state.Buckets.Add(endBucket, dGood, dGood + dBad);
                }

                // :: Steps 3 and 4.
                statuses[i] = Judge(state, now, endBucket, transitions);
            }

            Volatile.Write(ref _statuses, statuses);
        }

        foreach (var transition in transitions)
        {
            _logger.AlertTransitioned(transition.Spec.Name, transition.Severity, transition.From, transition.To,
                transition.LongBurnRate, transition.ShortBurnRate);
            AlertTransitioned?.Invoke(transition);
        }

        return statuses;
    }

    /// <summary>The pure arithmetic of one SLO's status, given its window counts. Public for tests and tools.</summary>
    /// <param name="spec">The SLO.</param>
    /// <param name="windowCounts">Good/total over the SLO window.</param>
    /// <param name="lastHourErrorRatio">The error ratio over the last hour (for time to exhaustion), null without events.</param>
    public static ErrorBudgetStatus ComputeBudget(SloSpec spec, GoodTotal windowCounts, double? lastHourErrorRatio)
    {
        ArgumentNullException.ThrowIfNull(spec);
        double allowed = spec.ErrorBudget * windowCounts.Total;
        double consumedRatio = windowCounts.ErrorRatio is { } ratio ? ratio / spec.ErrorBudget : 0;
        double remaining = 1 - consumedRatio;
        double burn = (lastHourErrorRatio ?? 0) / spec.ErrorBudget;
        TimeSpan? exhaustion = remaining <= 0 ? TimeSpan.Zero
            : burn <= 0 ? null
            : TimeSpan.FromSeconds(Math.Min(remaining * spec.Window.TotalSeconds / burn, TimeSpan.MaxValue.TotalSeconds / 2));
        return new ErrorBudgetStatus(allowed, windowCounts.Bad, consumedRatio, exhaustion);
    }

    private void CloseSlice(SloState state, DateTimeOffset now)
    {
        var spec = state.Spec;
        double sliceSeconds = Math.Max((now - state.SliceStart).TotalSeconds, spec.TimesliceLength.TotalSeconds);
        state.SliceStart = state.AlignSlice(now);
        bool? good = null;
        switch (spec.Sli)
        {
            case ResourceSli resource:
                long samples = Interlocked.Exchange(ref state.GaugeSamples, 0);
                double max = Interlocked.Exchange(ref state.GaugeMax, double.NegativeInfinity);
                if (samples > 0)
                {
                    good = max <= resource.Threshold;
                }

                break;

            case ThroughputSli or BatchingSli:
                long inferences = Interlocked.Exchange(ref state.SliceInferences, 0);
                long executions = Interlocked.Exchange(ref state.SliceExecutions, 0);
                long preferred = Interlocked.Exchange(ref state.SlicePreferred, 0);
                long backlogged = Interlocked.Exchange(ref state.SliceBacklogged, 0);
                var load = spec.Sli is ThroughputSli t ? t.Load : ((BatchingSli)spec.Sli).Load;
                double rate = inferences / sliceSeconds;
                bool underLoad = executions > 0 && rate >= load.MinInferencesPerSecond &&
                    (double)backlogged / executions >= load.MinBackloggedShare;
                if (!underLoad)
                {
                    break;
                }

                if (spec.Sli is ThroughputSli throughput)
                {
                    if (_peaks.TryGetValue(spec.Model, out var peak))
                    {
                        good = rate >= throughput.MinFractionOfPeak * peak;
                    }
                }
                else
                {
                    var batching = (BatchingSli)spec.Sli;
                    double measure = batching.Measure == BatchingMeasure.AverageBatchSize
                        ? (double)inferences / executions
                        : (double)preferred / executions;
                    good = measure >= batching.Min;
                }

                break;
        }

        if (good == true)
        {
            Interlocked.Increment(ref state.Good);
        }
        else if (good == false)
        {
            Interlocked.Increment(ref state.Bad);
        }
    }

    private SloStatus Judge(SloState state, DateTimeOffset now, long endBucket, List<AlertTransition> transitions)
    {
        var spec = state.Spec;
        var windows = new BurnRateWindow[BurnRateAlerts.Windows.Count + 1];
        for (int w = 0; w < BurnRateAlerts.Windows.Count; w++)
        {
            windows[w] = Window(state, endBucket, BurnRateAlerts.Windows[w]);
        }

        var sloWindow = Window(state, endBucket, spec.Window);
        windows[^1] = sloWindow;
        var budget = ComputeBudget(spec, sloWindow.Counts, ErrorRatio(windows, TimeSpan.FromHours(1)));

        string? noData = null;
        if (spec.Sli is ThroughputSli && !_peaks.ContainsKey(spec.Model))
        {
            noData = $"no peak measured for model '{spec.Model}' (run sluice bench --calibrate)";
        }
        else if (sloWindow.Counts.Total <= 0)
        {
            noData = spec.Sli switch
            {
                ResourceSli r => $"no samples of gauge '{r.Gauge}' in the window",
                ThroughputSli or BatchingSli => "no time slice under load in the window",
                TtftSli or ItlSli => "no generated sequences in the window",
                _ => "no requests in the window",
            };
        }

        state.Page = Advance(state, AlertSeverity.Page, state.Page, windows, now, transitions);
        state.Ticket = Advance(state, AlertSeverity.Ticket, state.Ticket, windows, now, transitions);

        return new SloStatus
        {
            Spec = spec,
            EvaluatedAt = now,
            DataState = noData is null ? SloDataState.Ok : SloDataState.NoData,
            NoDataReason = noData,
            Sli = noData is null ? sloWindow.Counts.Good / sloWindow.Counts.Total : null,
            WindowCounts = sloWindow.Counts,
            ErrorBudget = budget,
            BurnRates = windows,
            Page = state.Page,
            Ticket = state.Ticket,
        };
    }

    private static BurnRateWindow Window(SloState state, long endBucket, TimeSpan window)
    {
        var counts = state.Buckets.Sum(endBucket, (int)Math.Ceiling(window.TotalMinutes));
        return new BurnRateWindow(window, counts, (counts.ErrorRatio ?? 0) / state.Spec.ErrorBudget);
    }

    private static double? ErrorRatio(BurnRateWindow[] windows, TimeSpan window) =>
        Array.Find(windows, w => w.Window == window)?.ErrorRatio;

    private static AlertStatus Advance(SloState state, AlertSeverity severity, AlertStatus current, BurnRateWindow[] windows,
        DateTimeOffset now, List<AlertTransition> transitions)
    {
        var spec = state.Spec;
        var policy = severity == AlertSeverity.Page ? spec.Alerting.Page : spec.Alerting.Ticket;
        if (!policy.Enabled)
        {
            return current;
        }

        var conditions = BurnRateAlerts.For(severity);
        bool holds = conditions.Any(c =>
            BurnRateAlerts.Holds(c, ErrorRatio(windows, c.LongWindow), ErrorRatio(windows, c.ShortWindow), spec.ErrorBudget));
        var next = current.Next(holds, now, policy.For);
        if (next.State != current.State)
        {
            var first = conditions[0];
            transitions.Add(new AlertTransition(spec, severity, current.State, next.State, next, now,
                Array.Find(windows, w => w.Window == first.LongWindow)!.BurnRate,
                Array.Find(windows, w => w.Window == first.ShortWindow)!.BurnRate));
        }

        return next;
    }

    // :: History store support (same assembly).

    internal void RestoreMinute(string sloName, long bucket, long good, long total)
    {
        if (_byName.TryGetValue(sloName, out var state))
        {
            lock (_evaluationLock)
            {
                state.Buckets.Add(bucket, good, total);
            }
        }
    }

    internal void RestoreHour(string sloName, long hour, long good, long total)
    {
        if (_byName.TryGetValue(sloName, out var state))
        {
            lock (_evaluationLock)
            {
                state.Buckets.AddHour(hour, good, total);
            }
        }
    }

    /// <summary>The minute buckets <paramref name="fromBucket"/>..<paramref name="toBucket"/> of every SLO that have counts.</summary>
    internal List<(string Slo, long Bucket, long Good, long Total)> ReadMinutes(long fromBucket, long toBucket)
    {
        var rows = new List<(string, long, long, long)>();
        lock (_evaluationLock)
        {
            foreach (var state in _states)
            {
                for (long bucket = Math.Max(fromBucket, toBucket - CountBuckets.MinuteCapacity + 1); bucket <= toBucket; bucket++)
                {
                    var (good, total) = state.Buckets.GetMinute(bucket);
                    if (total > 0)
                    {
                        rows.Add((state.Spec.Name, bucket, good, total));
                    }
                }
            }
        }

        return rows;
    }

    private static FrozenDictionary<string, SloState[]> Group(IEnumerable<SloState> states, Func<SloState, string> key) =>
        states.GroupBy(key, StringComparer.Ordinal).ToFrozenDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
}
