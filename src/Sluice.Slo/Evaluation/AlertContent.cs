using System.Globalization;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Evaluation;

/// <summary>The labels and annotations of an SLO alert: one definition shared by the in-process alerts (webhook) and the
/// generated Prometheus alerting rules, so both say the same thing.</summary>
public static class AlertContent
{
    /// <summary>The alert name of every SLO burn-rate alert; the <c>severity</c> and <c>slo</c> labels tell them apart.</summary>
    public const string AlertName = "SloErrorBudgetBurn";

    /// <summary>Identifying labels (without alertname): slo, service, model, severity, and the spec's extra labels.</summary>
    public static IReadOnlyDictionary<string, string> Labels(SloSpec spec, AlertSeverity severity)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var policy = severity == AlertSeverity.Page ? spec.Alerting.Page : spec.Alerting.Ticket;
        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in policy.Labels)
        {
            labels[key] = value;
        }

        labels["slo"] = spec.Name;
        labels["service"] = spec.Service;
        labels["model"] = spec.Model;
        labels["severity"] = SeverityLabel(severity);
        return labels;
    }

    /// <summary>summary, description, runbook_url (when set), and the spec's extra annotations.</summary>
    public static IReadOnlyDictionary<string, string> Annotations(SloSpec spec, AlertSeverity severity)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var policy = severity == AlertSeverity.Page ? spec.Alerting.Page : spec.Alerting.Ticket;
        var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in policy.Annotations)
        {
            annotations[key] = value;
        }

        var conditions = string.Join(" or ", BurnRateAlerts.For(severity).Select(c => string.Create(CultureInfo.InvariantCulture,
            $"the {DurationText.Format(c.LongWindow)} and {DurationText.Format(c.ShortWindow)} burn rates exceed {c.Factor}")));
        annotations.TryAdd("summary", $"SLO {spec.Name} ({spec.Model}) is burning its error budget too fast");
        annotations.TryAdd("description", string.Create(CultureInfo.InvariantCulture,
            $"{(spec.Description.Length > 0 ? spec.Description + ". " : "")}Objective {spec.Objective * 100:0.###}% over {DurationText.Format(spec.Window)}; {SeverityLabel(severity)} when {conditions}."));
        if (spec.Alerting.RunbookUrl is { } runbook)
        {
            annotations.TryAdd("runbook_url", runbook);
        }

        return annotations;
    }

    /// <summary>"page" or "ticket".</summary>
    public static string SeverityLabel(AlertSeverity severity) => severity == AlertSeverity.Page ? "page" : "ticket";
}
