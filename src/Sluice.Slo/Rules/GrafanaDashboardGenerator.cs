using System.Text.Json;
using System.Text.Json.Nodes;
using Sluice.Slo.Spec;

namespace Sluice.Slo.Rules;

/// <summary>
/// Writes a Grafana dashboard (JSON model, schemaVersion 39) over the series <see cref="PrometheusRuleGenerator"/> records:
/// one row per SLO with its SLI, remaining error budget, and burn rates over 5m, 1h, 6h, 1d and 3d against the page and
/// ticket thresholds; ttft and itl SLOs add their token latency quantiles against the threshold. A <c>datasource</c> variable
/// picks the Prometheus data source.
/// </summary>
public static class GrafanaDashboardGenerator
{
    /// <summary>The dashboard's uid.</summary>
    public const string Uid = "sluice-slo";

    /// <summary>The server's histogram of time to first token (vLLM's <c>vllm:time_to_first_token_seconds</c>).</summary>
    public const string TimeToFirstTokenHistogram = "sluice_llm_time_to_first_token_seconds";

    /// <summary>The server's histogram of the gaps between consecutive tokens, one observation per token
    /// (vLLM's <c>vllm:inter_token_latency_seconds</c>).</summary>
    public const string InterTokenLatencyHistogram = "sluice_llm_inter_token_latency_seconds";

    /// <summary>The server's histogram of each finished sequence's mean inter-token latency
    /// (vLLM's <c>vllm:request_time_per_output_token_seconds</c>).</summary>
    public const string TimePerOutputTokenHistogram = "sluice_llm_request_time_per_output_token_seconds";

    /// <summary>The model label of the server's <c>sluice_llm_*</c> series (vLLM's).</summary>
    public const string ModelNameLabel = "model_name";

    /// <summary>Generates the dashboard JSON.</summary>
    public static string Generate(IReadOnlyList<SloSpec> slos, string title = "Sluice SLOs")
    {
        ArgumentNullException.ThrowIfNull(slos);
        var panels = new JsonArray();
        int id = 1, y = 0;
        foreach (var slo in slos)
        {
            var selector = $"{{slo=\"{slo.Name}\"}}";
            panels.Add(new JsonObject
            {
                ["id"] = id++,
                ["type"] = "row",
                ["title"] = $"{slo.Name} — {slo.Model} ({slo.Sli.Kind.ToString().ToLowerInvariant()}, {slo.Objective * 100:0.###}% over {DurationText.Format(slo.Window)})",
                ["collapsed"] = false,
                ["gridPos"] = Grid(0, y, 24, 1),
                ["panels"] = new JsonArray(),
            });
            y += 1;
            panels.Add(Stat(id++, "SLI", $"slo:sli:ratio{selector}", "percentunit", Grid(0, y, 6, 8),
                [(null, "red"), (slo.Objective, "green")]));
            panels.Add(Stat(id++, "Error budget remaining", $"slo:period_error_budget_remaining:ratio{selector}", "percentunit",
                Grid(6, y, 6, 8), [(null, "red"), (0.0, "orange"), (0.25, "green")]));
            panels.Add(BurnRates(id++, slo, selector, Grid(12, y, 12, 8)));
            y += 8;
            if (slo.Sli is TtftSli or ItlSli)
            {
                panels.Add(TokenLatency(id++, slo, Grid(0, y, 24, 8)));
                y += 8;
            }
        }

        var dashboard = new JsonObject
        {
            ["uid"] = Uid,
            ["title"] = title,
            ["tags"] = new JsonArray("sluice", "slo"),
            ["timezone"] = "utc",
            ["schemaVersion"] = 39,
            ["version"] = 1,
            ["editable"] = true,
            ["refresh"] = "1m",
            ["time"] = new JsonObject { ["from"] = "now-7d", ["to"] = "now" },
            ["templating"] = new JsonObject
            {
                ["list"] = new JsonArray(new JsonObject
                {
                    ["name"] = "datasource",
                    ["label"] = "Data source",
                    ["type"] = "datasource",
                    ["query"] = "prometheus",
                    ["current"] = new JsonObject(),
                    ["hide"] = 0,
                }),
            },
            ["annotations"] = new JsonObject { ["list"] = new JsonArray() },
            ["panels"] = panels,
        };
        return dashboard.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static JsonObject Grid(int x, int y, int w, int h) => new() { ["x"] = x, ["y"] = y, ["w"] = w, ["h"] = h };

    private static JsonObject DataSource() => new() { ["type"] = "prometheus", ["uid"] = "${datasource}" };

    private static JsonObject Target(string expr, string legend, string refId) => new()
    {
        ["datasource"] = DataSource(),
        ["expr"] = expr,
        ["legendFormat"] = legend,
        ["refId"] = refId,
    };

    private static JsonObject Stat(int id, string title, string expr, string unit, JsonObject grid, (double? Value, string Color)[] steps)
    {
        return new JsonObject
        {
            ["id"] = id,
            ["type"] = "stat",
            ["title"] = title,
            ["datasource"] = DataSource(),
            ["gridPos"] = grid,
            ["targets"] = new JsonArray(Target(expr, title, "A")),
            ["fieldConfig"] = new JsonObject
            {
                ["defaults"] = new JsonObject
                {
                    ["unit"] = unit,
                    ["decimals"] = 3,
                    ["thresholds"] = new JsonObject { ["mode"] = "absolute", ["steps"] = ThresholdSteps(steps) },
                },
                ["overrides"] = new JsonArray(),
            },
            ["options"] = new JsonObject
            {
                ["reduceOptions"] = new JsonObject { ["calcs"] = new JsonArray("lastNotNull"), ["fields"] = "", ["values"] = false },
                ["colorMode"] = "value",
                ["graphMode"] = "area",
            },
        };
    }

    /// <summary>
    /// For ttft and itl SLOs: p50/p95/p99 over 5 minutes of the server's token latency histogram, against the threshold. A view
    /// for diagnosis; the SLI itself comes from the SLO engine's exact per-sequence events, not from these buckets. For itl the
    /// histogram is the per-sequence mean (statistic mean) or the per-token gaps (statistic p95: their p95 approximates a
    /// typical sequence's).
    /// </summary>
    private static JsonObject TokenLatency(int id, SloSpec slo, JsonObject grid)
    {
        var (histogram, what, threshold) = slo.Sli switch
        {
            TtftSli ttft => (TimeToFirstTokenHistogram, "Time to first token", ttft.Threshold),
            ItlSli { Statistic: ItlStatistic.Mean } itl => (TimePerOutputTokenHistogram, "Mean inter-token latency per sequence", itl.Threshold),
            ItlSli itl => (InterTokenLatencyHistogram, "Inter-token latency per token", itl.Threshold),
            _ => throw new ArgumentException($"{slo.Name} is not a ttft or itl SLO", nameof(slo)),
        };
        var targets = new JsonArray();
        char refId = 'A';
        foreach (var quantile in new[] { "0.5", "0.95", "0.99" })
        {
            targets.Add(Target(
                $"histogram_quantile({quantile}, sum by (le) (rate({histogram}_bucket{{{ModelNameLabel}=\"{slo.Model}\"}}[5m])))",
                $"p{quantile[2..].PadRight(2, '0')}", (refId++).ToString()));
        }

        return TimeSeries(id, $"{what} (threshold {DurationText.Format(threshold)})",
            $"Quantiles over 5 minutes of {histogram} for model {slo.Model}; the dashed line is the SLO threshold.",
            grid, targets, "s", [(null, "green"), (threshold.TotalSeconds, "red")]);
    }

    private static JsonObject BurnRates(int id, SloSpec slo, string selector, JsonObject grid)
    {
        var targets = new JsonArray();
        char refId = 'A';
        foreach (var window in new[] { "5m", "1h", "6h", "1d", "3d" })
        {
            targets.Add(Target($"slo:sli_error:ratio_rate{window}{selector} / on(slo) slo:error_budget:ratio{selector}",
                $"burn rate {window}", (refId++).ToString()));
        }

        return TimeSeries(id, "Burn rate (page above 14.4 / 6, ticket above 3 / 1)",
            $"Error ratio over each window divided by the error budget ({slo.ErrorBudget:0.#####}).",
            grid, targets, "none", [(null, "green"), (1, "yellow"), (6, "orange"), (14.4, "red")]);
    }

    /// <summary>A time-series panel whose thresholds are drawn as dashed lines.</summary>
    private static JsonObject TimeSeries(
        int id, string title, string description, JsonObject grid, JsonArray targets, string unit, (double? Value, string Color)[] steps) => new()
    {
        ["id"] = id,
        ["type"] = "timeseries",
        ["title"] = title,
        ["description"] = description,
        ["datasource"] = DataSource(),
        ["gridPos"] = grid,
        ["targets"] = targets,
        ["fieldConfig"] = new JsonObject
        {
            ["defaults"] = new JsonObject
            {
                ["unit"] = unit,
                ["min"] = 0,
                ["custom"] = new JsonObject { ["thresholdsStyle"] = new JsonObject { ["mode"] = "dashed" } },
                ["thresholds"] = new JsonObject { ["mode"] = "absolute", ["steps"] = ThresholdSteps(steps) },
            },
            ["overrides"] = new JsonArray(),
        },
    };

    private static JsonArray ThresholdSteps((double? Value, string Color)[] steps)
    {
        var array = new JsonArray();
        foreach (var (value, color) in steps)
        {
            array.Add(new JsonObject { ["color"] = color, ["value"] = value is null ? null : JsonValue.Create(value.Value) });
        }

        return array;
    }
}
