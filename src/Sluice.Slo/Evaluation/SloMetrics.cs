using System.Diagnostics.Metrics;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Evaluation;

/// <summary>
/// The SLO engine's instruments (meter <see cref="MeterName"/>). The instrument names are chosen so that a Prometheus
/// exposition of them (OpenTelemetry's exporter appends <c>_total</c> to counters) yields exactly the metric contract of
/// src/Sluice.Slo/README.md: <c>sluice_slo_events_total{slo,outcome}</c> and <c>sluice_slo_timeslices_total{slo,outcome}</c>,
/// on which the generated Prometheus rules are built, plus the engine's own state as gauges.
/// </summary>
/// <remarks>Counters are observable: they read <see cref="SloEvaluator.GetCounters"/> at collection, so the exported counts
/// are the engine's counts, and both outcomes of every SLO exist from the start (at 0), as <c>rate()</c> needs.</remarks>
public sealed class SloMetrics : IDisposable
{
    /// <summary>The meter name.</summary>
    public const string MeterName = "Sluice.Slo";

    private readonly SloEvaluator _evaluator;
    private readonly Counter<long> _transitions;

    /// <summary>Creates the instruments and subscribes to the evaluator's alert transitions.</summary>
    public SloMetrics(IMeterFactory meterFactory, SloEvaluator evaluator)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(evaluator);
        _evaluator = evaluator;
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableCounter("sluice_slo_events", () => Counts(BudgetingMethod.Occurrences),
            description: "Request events per request-based SLO, classified good or bad by the SLO engine.");
        meter.CreateObservableCounter("sluice_slo_timeslices", () => Counts(BudgetingMethod.Timeslices),
            description: "Judged time slices per timeslice SLO (throughput, resource, batching), good or bad.");
        meter.CreateObservableGauge("sluice_slo_sli", Sli,
            description: "Good / total over the SLO window, from the last evaluation; absent without data.");
        meter.CreateObservableGauge("sluice_slo_error_budget_remaining", Remaining,
            description: "1 - consumed error budget over the SLO window (negative once overspent), as a ratio.");
        meter.CreateObservableGauge("sluice_slo_burn_rate", BurnRates,
            description: "Error ratio over the window divided by the error budget.");
        meter.CreateObservableGauge("sluice_slo_alert", Alerts,
            description: "1 for each SLO alert's current state (inactive, pending, firing, resolved).");
        _transitions = meter.CreateCounter<long>("sluice_slo_alert_transitions",
            description: "SLO alert state changes, by the state entered.");
        evaluator.AlertTransitioned += OnTransition;
    }

    /// <inheritdoc />
    public void Dispose() => _evaluator.AlertTransitioned -= OnTransition;

    private void OnTransition(AlertTransition transition) =>
        _transitions.Add(1,
            Tag("slo", transition.Spec.Name),
            Tag("severity", AlertContent.SeverityLabel(transition.Severity)),
            Tag("state", transition.To.ToString().ToLowerInvariant()));

    private static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);

    private IEnumerable<Measurement<long>> Counts(BudgetingMethod method)
    {
        foreach (var counter in _evaluator.GetCounters())
        {
            if (counter.Spec.BudgetingMethod == method)
            {
                yield return new Measurement<long>(counter.Good, Tag("slo", counter.Spec.Name), Tag("outcome", "good"));
                yield return new Measurement<long>(counter.Bad, Tag("slo", counter.Spec.Name), Tag("outcome", "bad"));
            }
        }
    }

    private IEnumerable<Measurement<double>> Sli() =>
        _evaluator.Statuses.Where(s => s.Sli is not null).Select(s => new Measurement<double>(s.Sli!.Value, Tag("slo", s.Spec.Name)));

    private IEnumerable<Measurement<double>> Remaining() =>
        _evaluator.Statuses.Select(s => new Measurement<double>(s.ErrorBudget.RemainingRatio, Tag("slo", s.Spec.Name)));

    private IEnumerable<Measurement<double>> BurnRates() =>
        _evaluator.Statuses.SelectMany(s => s.BurnRates.Select(b =>
            new Measurement<double>(b.BurnRate, Tag("slo", s.Spec.Name), Tag("window", DurationText.Format(b.Window)))));

    private IEnumerable<Measurement<int>> Alerts()
    {
        foreach (var status in _evaluator.Statuses)
        {
            foreach (var (severity, alert) in new[] { (AlertSeverity.Page, status.Page), (AlertSeverity.Ticket, status.Ticket) })
            {
                foreach (var state in Enum.GetValues<AlertState>())
                {
                    yield return new Measurement<int>(alert.State == state ? 1 : 0,
                        Tag("slo", status.Spec.Name), Tag("severity", AlertContent.SeverityLabel(severity)),
                        Tag("state", state.ToString().ToLowerInvariant()));
                }
            }
        }
    }
}
