using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Spec;
using Sluice.Slo.Tests.TestSupport;

namespace Sluice.Slo.Tests.Evaluation;

public sealed class AlertmanagerWebhookPayloadTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static AlertTransition Transition(AlertState from, AlertState to, SloSpec? spec = null)
    {
        var status = to == AlertState.Firing
            ? new AlertStatus(AlertState.Firing, T0, T0 + TimeSpan.FromMinutes(2), null)
            : new AlertStatus(to, null, T0 + TimeSpan.FromMinutes(2), T0 + TimeSpan.FromMinutes(20));
        return new AlertTransition(spec ?? Slos.Availability(), AlertSeverity.Page, from, to, status, T0 + TimeSpan.FromMinutes(2), 20, 18);
    }

    [Fact]
    public void Build_FiringTransition_HasAlertmanagerV4Shape()
    {
        var spec = Slos.Availability() with { Alerting = AlertingSpec.Default with { RunbookUrl = "https://rb.example.com/a" } };

        var json = AlertmanagerWebhookPayload.Build([Transition(AlertState.Pending, AlertState.Firing, spec)], "sluice", "http://host:8000");

        using var document = JsonDocument.Parse(json!);
        var root = document.RootElement;
        Assert.Equal("4", root.GetProperty("version").GetString());
        Assert.Equal("firing", root.GetProperty("status").GetString());
        Assert.Equal("sluice", root.GetProperty("receiver").GetString());
        Assert.Equal(0, root.GetProperty("truncatedAlerts").GetInt32());
        Assert.Equal("http://host:8000", root.GetProperty("externalURL").GetString());
        Assert.Equal(AlertContent.AlertName, root.GetProperty("groupLabels").GetProperty("alertname").GetString());
        Assert.Equal("page", root.GetProperty("commonLabels").GetProperty("severity").GetString());
        var alert = Assert.Single(root.GetProperty("alerts").EnumerateArray().ToList());
        Assert.Equal("firing", alert.GetProperty("status").GetString());
        Assert.Equal("avail", alert.GetProperty("labels").GetProperty("slo").GetString());
        Assert.Equal("https://rb.example.com/a", alert.GetProperty("annotations").GetProperty("runbook_url").GetString());
        Assert.Equal("2026-03-01T12:00:00.000Z", alert.GetProperty("startsAt").GetString());
        Assert.Equal("0001-01-01T00:00:00Z", alert.GetProperty("endsAt").GetString());
        Assert.Equal("http://host:8000/v2/slo/avail", alert.GetProperty("generatorURL").GetString());
        Assert.Matches("^[0-9a-f]{16}$", alert.GetProperty("fingerprint").GetString());
    }

    [Fact]
    public void Build_ResolvedTransition_HasEndsAtAndResolvedStatus()
    {
        var json = AlertmanagerWebhookPayload.Build([Transition(AlertState.Firing, AlertState.Resolved)], "r", "http://h");

        using var document = JsonDocument.Parse(json!);
        Assert.Equal("resolved", document.RootElement.GetProperty("status").GetString());
        var alert = document.RootElement.GetProperty("alerts")[0];
        Assert.Equal("2026-03-01T12:20:00.000Z", alert.GetProperty("endsAt").GetString());
    }

    [Fact]
    public void Build_OnlyPendingTransitions_ReturnsNull()
    {
        Assert.Null(AlertmanagerWebhookPayload.Build([Transition(AlertState.Inactive, AlertState.Pending)], "r", "http://h"));
    }

    [Fact]
    public void Fingerprint_SameLabelsInAnyOrder_IsTheSame()
    {
        var a = AlertmanagerWebhookPayload.Fingerprint(new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" });
        var b = AlertmanagerWebhookPayload.Fingerprint(new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" });
        var c = AlertmanagerWebhookPayload.Fingerprint(new Dictionary<string, string> { ["a"] = "12" });

        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }
}
