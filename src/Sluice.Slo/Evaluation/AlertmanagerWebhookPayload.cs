using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Sluice.Slo.Evaluation;

/// <summary>
/// Builds the JSON body Alertmanager sends to webhook receivers (version "4"), from alert transitions, so any receiver that
/// understands Alertmanager webhooks (or Alertmanager's own API clients) can take Sluice's in-process alerts. Pure.
/// </summary>
public static class AlertmanagerWebhookPayload
{
    /// <summary>Builds the payload, or returns null when no transition is one Alertmanager tells about (only to firing or
    /// to resolved are; pending is not).</summary>
    /// <param name="transitions">The transitions of one evaluation.</param>
    /// <param name="receiver">The receiver name to put in the payload.</param>
    /// <param name="externalUrl">This server's URL (Alertmanager's <c>externalURL</c>); also the base of each generatorURL.</param>
    public static string? Build(IReadOnlyList<AlertTransition> transitions, string receiver, string externalUrl)
    {
        ArgumentNullException.ThrowIfNull(transitions);
        var alerts = transitions.Where(t => t.To is AlertState.Firing or AlertState.Resolved).ToList();
        if (alerts.Count == 0)
        {
            return null;
        }

        var labelSets = alerts.Select(t => WithName(AlertContent.Labels(t.Spec, t.Severity))).ToList();
        var annotationSets = alerts.Select(t => AlertContent.Annotations(t.Spec, t.Severity)).ToList();

        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("version", "4");
            json.WriteString("groupKey", $"{{}}:{{alertname=\"{AlertContent.AlertName}\"}}");
            json.WriteNumber("truncatedAlerts", 0);
            json.WriteString("status", alerts.Any(a => a.To == AlertState.Firing) ? "firing" : "resolved");
            json.WriteString("receiver", receiver);
            WriteMap(json, "groupLabels", new SortedDictionary<string, string> { ["alertname"] = AlertContent.AlertName });
            WriteMap(json, "commonLabels", Common(labelSets));
            WriteMap(json, "commonAnnotations", Common(annotationSets));
            json.WriteString("externalURL", externalUrl);
            json.WriteStartArray("alerts");
            for (int i = 0; i < alerts.Count; i++)
            {
                var t = alerts[i];
                bool firing = t.To == AlertState.Firing;
                json.WriteStartObject();
                json.WriteString("status", firing ? "firing" : "resolved");
                WriteMap(json, "labels", labelSets[i]);
                WriteMap(json, "annotations", annotationSets[i]);
                json.WriteString("startsAt", Rfc3339(t.Status.ActiveSince ?? t.Status.FiredAt ?? t.At));
                json.WriteString("endsAt", firing ? "0001-01-01T00:00:00Z" : Rfc3339(t.Status.ResolvedAt ?? t.At));
                json.WriteString("generatorURL", $"{externalUrl.TrimEnd('/')}/v2/slo/{Uri.EscapeDataString(t.Spec.Name)}");
                json.WriteString("fingerprint", Fingerprint(labelSets[i]));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>A stable 16-hex-digit fingerprint of a label set (FNV-1a over the sorted pairs).</summary>
    public static string Fingerprint(IReadOnlyDictionary<string, string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ulong hash = 14695981039346656037UL;
        foreach (var (key, value) in labels.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            foreach (var b in Encoding.UTF8.GetBytes(key + "\xff" + value + "\xff"))
            {
                hash = (hash ^ b) * 1099511628211UL;
            }
        }

        return hash.ToString("x16", CultureInfo.InvariantCulture);
    }

    private static SortedDictionary<string, string> WithName(IReadOnlyDictionary<string, string> labels) =>
        new(labels.ToDictionary(p => p.Key, p => p.Value), StringComparer.Ordinal) { ["alertname"] = AlertContent.AlertName };

    private static SortedDictionary<string, string> Common(IEnumerable<IReadOnlyDictionary<string, string>> sets)
    {
        SortedDictionary<string, string>? common = null;
        foreach (var set in sets)
        {
            if (common is null)
            {
                common = new SortedDictionary<string, string>(set.ToDictionary(p => p.Key, p => p.Value), StringComparer.Ordinal);
                continue;
            }

            foreach (var key in common.Keys.ToList())
            {
                if (!set.TryGetValue(key, out var value) || value != common[key])
                {
                    common.Remove(key);
                }
            }
        }

        return common ?? new SortedDictionary<string, string>(StringComparer.Ordinal);
    }

    private static void WriteMap(Utf8JsonWriter json, string name, IEnumerable<KeyValuePair<string, string>> map)
    {
        json.WriteStartObject(name);
        foreach (var (key, value) in map)
        {
            json.WriteString(key, value);
        }

        json.WriteEndObject();
    }

    private static string Rfc3339(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
