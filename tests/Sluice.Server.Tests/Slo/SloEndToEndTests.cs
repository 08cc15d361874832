using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Sluice.Server.Tests.TestSupport;
using static Sluice.Server.Tests.TestSupport.KServeHttp;

namespace Sluice.Server.Tests.Slo;

/// <summary>
/// The SLO engine inside the real server: real Kestrel, the real engine and ONNX Runtime, requests over HTTP, the evaluator
/// on a fake clock that the test moves in 30-second steps (the evaluation interval).
/// </summary>
public sealed class SloEndToEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    /// <summary>99% of requests computed within 5 ms, over 1 hour; page after 1 minute, no ticket.</summary>
    private const string LatencySpec = """
        service: test
        slos:
          - name: ranker-latency
            model: ranker
            description: Ranker requests computed within 5 ms
            objective: 99
            window: 1h
            budgeting: occurrences
            sli:
              latency: {phase: compute, threshold: 5ms}
            alerting:
              runbook_url: https://runbooks.example.com/ranker
              page: {for: 1m}
              ticket: false
        """;

    [Fact]
    public async Task SlowRequests_FastBurnAboveThreshold_PagePendingFiringResolvedWhenTheMathsSays()
    {
        // Version 2 of the model needs ~0.8 G multiply-adds per row: far above 5 ms on any CPU; version 1 ~0.5 M: far below.
        using var workspace = new SloWorkspace().WithFastAndSlowVersions("ranker", slowIterations: 800);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 10, TimeSpan.Zero));
        await using var webhook = await WebhookReceiver.StartAsync(failFirst: 1);
        await using var server = await SloTestServer.StartAsync(workspace.Repository, workspace.WriteSpec(LatencySpec), workspace.DataDirectory,
            clock, webhook.Url.ToString(), models: "ranker");
        await WaitUntilVersionReadyAsync(server, "ranker", "2");

        // :: Load, all within one minute of the SLO clock: 15 fast requests and 5 slow ones (a 25% bad share, > 14.4 × 1%).
        const int fast = 15, slow = 5;
        for (int i = 0; i < fast + slow; i++)
        {
            var version = i % 4 == 3 ? "2" : "1";
            using var response = await server.Client.PostAsync($"v2/models/ranker/versions/{version}/infer", Json(SloWorkspace.OneRowRequest()))
                .WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await server.WaitUntilCountedAsync("ranker-latency", fast + slow);

        // :: Evaluate every 30 s for 35 minutes and compare each step with the SRE-workbook maths.
        var loadAt = clock.GetUtcNow() + Step;   // the counts land in the bucket of the first evaluation after the load
        long loadBucket = MinuteBucket(loadAt);
        var states = new List<string>();
        var expected = new AlertModel(For: TimeSpan.FromMinutes(1));
        JsonObject? firstStatus = null;
        for (int step = 1; step <= 70; step++)
        {
            clock.Advance(Step);
            server.Evaluate();
            var status = await server.GetSloAsync("ranker-latency");
            firstStatus ??= status;
            var now = clock.GetUtcNow();

            // Only the load bucket has events, so every window that contains it has the load's error ratio (≥ 25%), which is
            // above both page factors (14.4 × 1%, 6 × 1%): the page condition holds while the 30m window (the longest short
            // window of the page pair 6h/30m) still contains the load bucket; the 5m window alone would stop after 5 minutes.
            bool conditionHolds = MinuteBucket(now) - loadBucket < 30;
            var want = expected.Next(conditionHolds, now);
            var page = status["alerts"]!["page"]!;
            Assert.True(want == (string)page["state"]!, $"at {now:HH:mm:ss} page is {page["state"]}, the maths says {want}");
            Assert.Equal("inactive", (string)status["alerts"]!["ticket"]!["state"]!);
            Assert.False((bool)status["alerts"]!["ticket"]!["enabled"]!);
            states.Add(want);

            if (step == 3)
            {
                // firing: the webhook got it, after one refused POST (a bounded retry)
                var firing = await webhook.Accepted.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
                AssertAlertmanagerPayload(firing, "firing", server);
                Assert.Equal(2, webhook.Posts);
            }
        }

        Assert.Equal(["pending", "pending", "firing"], states.Take(3));
        Assert.Equal(60, states.IndexOf("resolved") + 1);   // 00:30:10 is the first minute whose 30m window has lost the load bucket
        var resolved = await webhook.Accepted.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        AssertAlertmanagerPayload(resolved, "resolved", server);

        // :: The counts of the first evaluation: every request counted once; the slow ones bad.
        var good = (long)firstStatus!["good"]!;
        var total = (long)firstStatus["total"]!;
        Assert.Equal(fast + slow, total);
        Assert.InRange(total - good, slow, slow + 5);   // a fast request preempted past 5 ms on a busy machine would count bad too
        var fiveMinutes = firstStatus["burn_rates"]!.AsArray().Single(w => (string)w!["window"]! == "5m")!;
        Assert.Equal((double)(total - good) / total / 0.01, (double)fiveMinutes["burn_rate"]!, 9);
    }

    [Fact]
    public async Task GetSlo_AllAndOneAndUnknown_StatusJsonShapeAnd404NamingTheSlo()
    {
        using var workspace = new SloWorkspace().WithAddOne("adder");
        var spec = workspace.WriteSpec("""
            slos:
              - name: adder-availability
                model: adder
                objective: 99.5
                window: 1d
                sli:
                  availability: {}
              - name: adder-latency
                model: adder
                objective: 99
                window: 7d
                sli:
                  latency: {phase: end_to_end, threshold: 2s}
            """);
        await using var server = await SloTestServer.StartAsync(workspace.Repository, spec, workspace.DataDirectory, models: "adder");
        for (int i = 0; i < 3; i++)
        {
            using var response = await server.Client.PostAsync("v2/models/adder/infer",
                Json("""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}""")).WaitAsync(Timeout);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await server.WaitUntilCountedAsync("adder-availability", 3);
        await server.WaitUntilCountedAsync("adder-latency", 3);
        server.Evaluate();

        using var all = await server.Client.GetAsync("v2/slo").WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.OK, all.StatusCode);
        Assert.Equal("application/json", all.Content.Headers.ContentType!.MediaType);
        var slos = JsonNode.Parse(await all.Content.ReadAsStringAsync())!["slos"]!.AsArray();
        Assert.Equal(["adder-availability", "adder-latency"], slos.Select(s => (string)s!["name"]!));
        var availability = slos[0]!.AsObject();
        foreach (var key in (string[])["name", "service", "model", "version", "description", "sli_kind", "budgeting", "objective", "window",
                     "evaluated_at", "state", "no_data_reason", "sli", "good", "total", "error_budget", "burn_rates", "alerts"])
        {
            Assert.True(availability.ContainsKey(key), $"missing '{key}'");
        }

        Assert.Equal("availability", (string)availability["sli_kind"]!);
        Assert.Equal("occurrences", (string)availability["budgeting"]!);
        Assert.Equal(0.995, (double)availability["objective"]!, 12);
        Assert.Equal("1d", (string)availability["window"]!);
        Assert.Equal("ok", (string)availability["state"]!);
        Assert.Equal(3, (long)availability["total"]!);
        Assert.Equal(3, (long)availability["good"]!);
        Assert.Equal(1.0, (double)availability["sli"]!);
        Assert.Equal(1.0, (double)availability["error_budget"]!["remaining_ratio"]!);
        Assert.Equal(["5m", "30m", "1h", "2h", "6h", "1d", "3d", "1d"], availability["burn_rates"]!.AsArray().Select(w => (string)w!["window"]!));
        Assert.Equal("inactive", (string)availability["alerts"]!["page"]!["state"]!);

        var one = await server.GetSloAsync("adder-latency");
        Assert.Equal("latency", (string)one["sli_kind"]!);
        Assert.Equal(3, (long)one["good"]!);

        // The same counts on /metrics, where the generated Prometheus rules read them (sluice_slo_events_total{slo, outcome}).
        var exposition = await server.Client.GetStringAsync(new Uri(server.Addresses.Metrics!, "metrics")).WaitAsync(Timeout);
        Assert.Equal("3", SampleValue(exposition, "sluice_slo_events_total", ("slo", "adder-availability"), ("outcome", "good")));
        Assert.Equal("0", SampleValue(exposition, "sluice_slo_events_total", ("slo", "adder-availability"), ("outcome", "bad")));
        Assert.Equal("1", SampleValue(exposition, "sluice_slo_sli", ("slo", "adder-latency")));

        using var unknown = await server.Client.GetAsync("v2/slo/no-such-slo").WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("'no-such-slo'", (string)JsonNode.Parse(await unknown.Content.ReadAsStringAsync())!["error"]!);
    }

    private static void AssertAlertmanagerPayload(JsonObject payload, string status, SloTestServer server)
    {
        Assert.Equal("4", (string)payload["version"]!);
        Assert.Equal(status, (string)payload["status"]!);
        Assert.Equal(server.Addresses.Http.ToString().TrimEnd('/'), (string)payload["externalURL"]!);
        var alert = payload["alerts"]!.AsArray().Single()!;
        Assert.Equal(status, (string)alert["status"]!);
        Assert.Equal("ranker-latency", (string)alert["labels"]!["slo"]!);
        Assert.Equal("page", (string)alert["labels"]!["severity"]!);
        Assert.Equal("https://runbooks.example.com/ranker", (string)alert["annotations"]!["runbook_url"]!);
        Assert.EndsWith("/v2/slo/ranker-latency", (string)alert["generatorURL"]!);
    }

    /// <summary>The value of the one sample of <paramref name="metric"/> carrying all the given labels, or null.</summary>
    private static string? SampleValue(string exposition, string metric, params (string Name, string Value)[] labels)
    {
        var lines = exposition.Split('\n').Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal) &&
            labels.All(label => l.Contains($"{label.Name}=\"{label.Value}\"", StringComparison.Ordinal))).ToList();
        Assert.True(lines.Count <= 1, string.Join("\n", lines));
        return lines.Count == 0 ? null : lines[0][(lines[0].LastIndexOf('}') + 1)..].Trim().Split(' ')[0];
    }

    /// <summary>The minute bucket holding a time: bucket b covers (b, b + 1] minutes since the epoch, as a Prometheus sample
    /// at a minute boundary closes the minute that ended.</summary>
    private static long MinuteBucket(DateTimeOffset at) => (long)Math.Ceiling(at.ToUnixTimeMilliseconds() / 60_000.0) - 1;

    private static async Task WaitUntilVersionReadyAsync(SloTestServer server, string model, string version)
    {
        await Conditions.WaitUntilAsync(() =>
        {
            using var response = server.Client.GetAsync($"v2/models/{model}/versions/{version}/ready").GetAwaiter().GetResult();
            return response.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(60), $"{model} version {version} is ready");
    }

    /// <summary>Prometheus's alert states, written independently of the library: the condition starts pending, pending held
    /// for <paramref name="For"/> fires, and a condition gone resolves a firing alert (or clears a pending one).</summary>
    private sealed class AlertModel(TimeSpan For)
    {
        private string _state = "inactive";
        private DateTimeOffset _activeSince;

        public string Next(bool holds, DateTimeOffset now)
        {
            _state = (_state, holds) switch
            {
                ("inactive" or "resolved", true) => Start(now),
                ("pending", true) => now - _activeSince >= For ? "firing" : "pending",
                ("firing", true) => "firing",
                ("pending", false) => "inactive",
                ("firing", false) => "resolved",
                (var same, false) => same,
                _ => throw new InvalidOperationException(_state),
            };
            return _state;
        }

        private string Start(DateTimeOffset now)
        {
            _activeSince = now;
            return "pending";
        }
    }
}
