using System.Globalization;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Rules;
using Sluice.Slo.Spec;
using Sluice.Slo.Tests.TestSupport;

namespace Sluice.Slo.Tests.Rules;

/// <summary>
/// Runs the in-process evaluator minute by minute over a scripted scenario and writes a <c>promtool test rules</c> file whose
/// input series are the evaluator's own exported counters (<see cref="SloEvaluator.GetCounters"/>) sampled every minute,
/// and whose expectations are the evaluator's firing alerts, SLI and remaining budget at checkpoints. promtool passing means
/// Prometheus, running the generated rules on the same counts, agrees with the engine.
/// </summary>
internal sealed class PromtoolScenario
{
    private readonly List<SloSpec> _slos;
    private readonly FakeTimeProvider _clock = new(Slos.Start);
    private readonly SloEvaluator _evaluator;
    private readonly List<long[]> _goodSamples = [];
    private readonly List<long[]> _badSamples = [];

    public PromtoolScenario(IEnumerable<SloSpec> slos)
    {
        _slos = slos.ToList();
        _evaluator = new SloEvaluator(_slos, _clock);
        _evaluator.AlertTransitioned += t => Transitions.Add((Minute, t));
        Sample();   // t = 0: every counter at 0
    }

    /// <summary>Statuses per minute (index = minute of the evaluation, 1-based like promtool's eval_time in minutes).</summary>
    public List<IReadOnlyList<SloStatus>> Statuses { get; } = [[]];

    public List<(int Minute, AlertTransition Transition)> Transitions { get; } = [];

    public int Minute => Statuses.Count - 1;

    /// <summary>Runs one minute: <paramref name="record"/> feeds the evaluator, then the clock moves a minute and it evaluates.</summary>
    public void RunMinute(Action<ISloEventSink> record)
    {
        record(_evaluator);
        _clock.Advance(TimeSpan.FromMinutes(1));
        Statuses.Add(_evaluator.Evaluate());
        Sample();
    }

    public SloStatus StatusAt(int minute, string slo) => Statuses[minute].Single(s => s.Spec.Name == slo);

    private void Sample()
    {
        var counters = _evaluator.GetCounters();
        _goodSamples.Add(counters.Select(c => c.Good).ToArray());
        _badSamples.Add(counters.Select(c => c.Bad).ToArray());
    }

    /// <summary>Writes the promtool unit-test file for the given checkpoint minutes.</summary>
    public string WriteTestFile(string ruleFileName, IEnumerable<int> checkpoints)
    {
        var yaml = new StringBuilder();
        yaml.Append(CultureInfo.InvariantCulture, $"rule_files: [{ruleFileName}]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n");
        for (int s = 0; s < _slos.Count; s++)
        {
            var metric = _slos[s].BudgetingMethod == BudgetingMethod.Occurrences ? SloMetricNames.Events : SloMetricNames.Timeslices;
            foreach (var (outcome, samples) in new[] { ("good", _goodSamples), ("bad", _badSamples) })
            {
                yaml.Append(CultureInfo.InvariantCulture, $"      - series: '{metric}{{slo=\"{_slos[s].Name}\",outcome=\"{outcome}\"}}'\n");
                yaml.Append("        values: '").AppendJoin(' ', samples.Select(v => v[s])).Append("'\n");
            }
        }

        var points = checkpoints.Where(m => m >= 1 && m <= Minute).Distinct().Order().ToList();
        yaml.Append("    alert_rule_test:\n");
        foreach (var minute in points)
        {
            yaml.Append(CultureInfo.InvariantCulture, $"      - eval_time: {minute}m\n        alertname: {AlertContent.AlertName}\n");
            var firing = Statuses[minute]
                .SelectMany(s => new[] { (s, AlertSeverity.Page, s.Page), (s, AlertSeverity.Ticket, s.Ticket) })
                .Where(a => a.Item3.State == AlertState.Firing)
                .ToList();
            if (firing.Count == 0)
            {
                yaml.Append("        exp_alerts: []\n");
                continue;
            }

            yaml.Append("        exp_alerts:\n");
            foreach (var (status, severity, _) in firing)
            {
                yaml.Append("          - exp_labels:\n");
                AppendMap(yaml, AlertContent.Labels(status.Spec, severity), "              ");
                yaml.Append("            exp_annotations:\n");
                AppendMap(yaml, AlertContent.Annotations(status.Spec, severity), "              ");
            }
        }

        yaml.Append("    promql_expr_test:\n");
        foreach (var minute in points)
        {
            foreach (var status in Statuses[minute].Where(s => s.DataState == SloDataState.Ok))
            {
                var selector = $"{{slo=\"{status.Spec.Name}\"}}";
                var labels = $"{{model=\"{status.Spec.Model}\", service=\"{status.Spec.Service}\", slo=\"{status.Spec.Name}\"}}";
                foreach (var (series, value) in new[]
                {
                    ("slo:sli:ratio", status.Sli!.Value),
                    ("slo:period_error_budget_remaining:ratio", status.ErrorBudget.RemainingRatio),
                    (PrometheusRuleGenerator.ErrorRatioRecord(TimeSpan.FromHours(1)), status.BurnRate(TimeSpan.FromHours(1))!.ErrorRatio ?? double.NaN),
                })
                {
                    if (double.IsNaN(value))
                    {
                        continue;
                    }

                    // Agreement within 1e-9 (absolute): both sides compute ratios of the same integer counts, in different orders.
                    yaml.Append(CultureInfo.InvariantCulture,
                        $"      - expr: 'abs({series}{selector} - {value.ToString("R", CultureInfo.InvariantCulture)}) < bool 1e-9'\n");
                    yaml.Append(CultureInfo.InvariantCulture, $"        eval_time: {minute}m\n        exp_samples:\n");
                    yaml.Append(CultureInfo.InvariantCulture, $"          - labels: '{labels}'\n            value: 1\n");
                }
            }
        }

        return yaml.ToString();
    }

    private static void AppendMap(StringBuilder yaml, IReadOnlyDictionary<string, string> map, string indent)
    {
        foreach (var (key, value) in map)
        {
            yaml.Append(indent).Append(key).Append(": ").Append(PrometheusRuleGenerator.Quote(value)).Append('\n');
        }
    }
}
