using System.Globalization;
using System.Text;
using System.Text.Json;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Evaluation;

/// <summary>The JSON of <c>GET /v2/slo</c> (<see cref="WriteAll"/>) and <c>GET /v2/slo/{name}</c> (<see cref="WriteOne"/>). Pure.</summary>
public static class SloStatusJson
{
    /// <summary><c>{"slos": [ status, ... ]}</c>.</summary>
    public static string WriteAll(IReadOnlyList<SloStatus> statuses)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        return Write(json =>
        {
            json.WriteStartObject();
            json.WriteStartArray("slos");
            foreach (var status in statuses)
            {
                WriteStatus(json, status);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        });
    }

    /// <summary>One status object.</summary>
    public static string WriteOne(SloStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        return Write(json => WriteStatus(json, status));
    }

    /// <summary>Writes one status object to a writer (for servers that stream the response).</summary>
    public static void WriteStatus(Utf8JsonWriter json, SloStatus status)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(status);
        var spec = status.Spec;
        json.WriteStartObject();
        json.WriteString("name", spec.Name);
        json.WriteString("service", spec.Service);
        json.WriteString("model", spec.Model);
        if (spec.ModelVersion is null)
        {
            json.WriteNull("version");
        }
        else
        {
            json.WriteString("version", spec.ModelVersion);
        }

        json.WriteString("description", spec.Description);
        json.WriteString("sli_kind", SloSpecLoader.ToSnakeCase(spec.Sli.Kind.ToString()));
        json.WriteString("budgeting", spec.BudgetingMethod == BudgetingMethod.Occurrences ? "occurrences" : "timeslices");
        json.WriteNumber("objective", spec.Objective);
        json.WriteString("window", DurationText.Format(spec.Window));
        json.WriteString("evaluated_at", status.EvaluatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        json.WriteString("state", status.DataState == SloDataState.Ok ? "ok" : "no_data");
        WriteNullableString(json, "no_data_reason", status.NoDataReason);
        WriteNullableNumber(json, "sli", status.Sli);
        json.WriteNumber("good", status.WindowCounts.Good);
        json.WriteNumber("total", status.WindowCounts.Total);

        json.WriteStartObject("error_budget");
        json.WriteNumber("total", status.ErrorBudget.Total);
        json.WriteNumber("consumed", status.ErrorBudget.Consumed);
        json.WriteNumber("consumed_ratio", status.ErrorBudget.ConsumedRatio);
        json.WriteNumber("remaining_ratio", status.ErrorBudget.RemainingRatio);
        WriteNullableNumber(json, "time_to_exhaustion_seconds", status.ErrorBudget.TimeToExhaustion?.TotalSeconds);
        json.WriteEndObject();

        json.WriteStartArray("burn_rates");
        foreach (var window in status.BurnRates)
        {
            json.WriteStartObject();
            json.WriteString("window", DurationText.Format(window.Window));
            WriteNullableNumber(json, "error_ratio", window.ErrorRatio);
            json.WriteNumber("burn_rate", window.BurnRate);
            json.WriteNumber("good", window.Counts.Good);
            json.WriteNumber("total", window.Counts.Total);
            json.WriteEndObject();
        }

        json.WriteEndArray();

        json.WriteStartObject("alerts");
        WriteAlert(json, "page", status.Page, spec.Alerting.Page.Enabled);
        WriteAlert(json, "ticket", status.Ticket, spec.Alerting.Ticket.Enabled);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteAlert(Utf8JsonWriter json, string name, AlertStatus alert, bool enabled)
    {
        json.WriteStartObject(name);
        json.WriteBoolean("enabled", enabled);
        json.WriteString("state", alert.State.ToString().ToLowerInvariant());
        WriteNullableString(json, "active_since", alert.ActiveSince?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        WriteNullableString(json, "fired_at", alert.FiredAt?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        WriteNullableString(json, "resolved_at", alert.ResolvedAt?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        json.WriteEndObject();
    }

    private static void WriteNullableString(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static void WriteNullableNumber(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static string Write(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            write(json);
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
