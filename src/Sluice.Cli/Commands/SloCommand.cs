using System.CommandLine;
using System.Globalization;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using Sluice.Slo.Rules;
using Sluice.Slo.Spec;

namespace Sluice.Cli.Commands;

/// <summary>
/// <c>sluice slo status|rules|dashboard</c>: a running server's SLO status as a table, and the same SLOs as Prometheus rules
/// and a Grafana dashboard for a fleet.
/// </summary>
internal static class SloCommand
{
    /// <summary>Exit code when the server cannot be reached or answers with an error.</summary>
    public const int Unreachable = 1;

    public static Command Create() => new("slo", "Service level objectives: a server's status, and Prometheus rules and a Grafana dashboard from a spec.")
    {
        StatusCommand(),
        GenerateCommand("rules", "Write Prometheus recording and alerting rules (Sloth-style multi-window burn rates) for the spec's SLOs.",
            static slos => PrometheusRuleGenerator.Generate(slos)),
        GenerateCommand("dashboard", "Write a Grafana dashboard (JSON) for the spec's SLOs, built on the generated rules.",
            static slos => GrafanaDashboardGenerator.Generate(slos)),
    };

    private static Command StatusCommand()
    {
        var url = new Option<string>("--url")
        {
            Description = "The server's KServe v2 HTTP address.",
            DefaultValueFactory = _ => "http://localhost:8000",
            HelpName = "URL",
        };
        url.Validators.Add(static result =>
        {
            if (result.GetValueOrDefault<string>() is { } value &&
                (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
            {
                result.AddError($"--url must be an absolute http or https URL, not '{value}'.");
            }
        });

        var command = new Command("status", "Print a running server's SLOs (GET /v2/slo) as a table: SLI, error budget, burn rates, alerts.") { url };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var baseUrl = parse.GetValue(url)!.TrimEnd('/');
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            string body;
            try
            {
                using var response = await client.GetAsync($"{baseUrl}/v2/slo", cancellationToken).ConfigureAwait(false);
                body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    await Console.Error.WriteLineAsync($"sluice slo status: error: {baseUrl}/v2/slo answered {(int)response.StatusCode}: {Shorten(body)}").ConfigureAwait(false);
                    return Unreachable;
                }
            }
            catch (HttpRequestException e)
            {
                await Console.Error.WriteLineAsync($"sluice slo status: error: cannot reach {baseUrl} ({e.HttpRequestError}); is 'sluice serve' running? (see --url)").ConfigureAwait(false);
                return Unreachable;
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync($"sluice slo status: error: {baseUrl} did not answer within 10 s").ConfigureAwait(false);
                return Unreachable;
            }

            try
            {
                using var document = JsonDocument.Parse(body);
                Console.Write(SloStatusTable.Format(document.RootElement));
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
            {
                await Console.Error.WriteLineAsync($"sluice slo status: error: {baseUrl}/v2/slo did not answer with SLO status JSON").ConfigureAwait(false);
                return Unreachable;
            }

            return 0;
        });
        return command;
    }

    private static Command GenerateCommand(string name, string description, Func<IReadOnlyList<SloSpec>, string> generate)
    {
        var spec = new Option<string?>("--spec")
        {
            Description = "The SLO spec (Sluice YAML or OpenSLO v1). Default: the built-in spec of examples/slo.yaml.",
            HelpName = "FILE",
        };
        var output = new Option<string?>("--output", "-o")
        {
            Description = "Write to this file instead of standard output.",
            HelpName = "FILE",
        };
        var command = new Command(name, description) { spec, output };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var path = parse.GetValue(spec);
            SloSpecSet set;
            if (path is null)
            {
                set = DefaultSloSpec.Load();
            }
            else if (!File.Exists(path))
            {
                await Console.Error.WriteLineAsync($"sluice slo {name}: error: --spec: '{path}' does not exist").ConfigureAwait(false);
                return Program.UsageError;
            }
            else
            {
                set = SloSpecLoader.LoadFiles([path]);
            }

            if (!set.IsValid)
            {
                foreach (var error in set.Errors)
                {
                    await Console.Error.WriteLineAsync($"sluice slo {name}: error: {error}").ConfigureAwait(false);
                }

                return Program.UsageError;
            }

            var text = generate(set.Slos);
            if (parse.GetValue(output) is { } file)
            {
                try
                {
                    await File.WriteAllTextAsync(file, text, new UTF8Encoding(false), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    await Console.Error.WriteLineAsync($"sluice slo {name}: error: --output: cannot write '{file}'").ConfigureAwait(false);
                    return Program.UsageError;
                }
            }
            else
            {
                Console.Out.Write(text);
            }

            return 0;
        });
        return command;
    }

    private static string Shorten(string text) => text.Length <= 200 ? text.Trim() : text[..200].Trim() + "…";
}

/// <summary>Formats the JSON of <c>GET /v2/slo</c> as an aligned plain-text table, one row per SLO, then the no-data reasons.</summary>
internal static class SloStatusTable
{
    private static readonly string[] Headers =
        ["NAME", "MODEL", "KIND", "OBJECTIVE", "WINDOW", "STATE", "SLI", "GOOD/TOTAL", "BUDGET LEFT", "BURN 5M", "BURN 1H", "PAGE", "TICKET"];

    public static string Format(JsonElement root)
    {
        var rows = new List<string[]>();
        var notes = new List<string>();
        foreach (var slo in root.GetProperty("slos").EnumerateArray())
        {
            var name = slo.GetProperty("name").GetString()!;
            bool noData = slo.GetProperty("state").GetString() == "no_data";
            rows.Add(
            [
                name,
                slo.GetProperty("model").GetString() ?? "",
                slo.GetProperty("sli_kind").GetString() ?? "",
                Percent(slo.GetProperty("objective").GetDouble(), 3),
                slo.GetProperty("window").GetString() ?? "",
                noData ? "no data" : "ok",
                noData || slo.GetProperty("sli").ValueKind != JsonValueKind.Number ? "-" : Percent(slo.GetProperty("sli").GetDouble(), 3),
                $"{Count(slo.GetProperty("good"))}/{Count(slo.GetProperty("total"))}",
                noData ? "-" : Percent(slo.GetProperty("error_budget").GetProperty("remaining_ratio").GetDouble(), 1),
                BurnRate(slo, "5m"),
                BurnRate(slo, "1h"),
                Alert(slo, "page"),
                Alert(slo, "ticket"),
            ]);
            if (noData && slo.GetProperty("no_data_reason").GetString() is { } reason)
            {
                notes.Add($"{name}: {reason}");
            }
        }

        var widths = Headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var text = new StringBuilder();
        AppendRow(text, Headers, widths);
        foreach (var row in rows)
        {
            AppendRow(text, row, widths);
        }

        if (rows.Count == 0)
        {
            text.AppendLine("(no SLOs)");
        }

        if (notes.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("No data:");
            foreach (var note in notes)
            {
                text.Append("  ").AppendLine(note);
            }
        }

        return text.ToString();
    }

    private static void AppendRow(StringBuilder text, string[] cells, int[] widths)
    {
        for (int i = 0; i < cells.Length; i++)
        {
            text.Append(i == cells.Length - 1 ? cells[i] : cells[i].PadRight(widths[i] + 2));
        }

        text.AppendLine();
    }

    private static string Percent(double ratio, int decimals) =>
        (ratio * 100).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture).TrimEnd('0').TrimEnd('.') + "%";

    private static string Count(JsonElement value) =>
        value.TryGetInt64(out var whole) ? whole.ToString(CultureInfo.InvariantCulture) : value.GetDouble().ToString("0.##", CultureInfo.InvariantCulture);

    private static string BurnRate(JsonElement slo, string window)
    {
        foreach (var rate in slo.GetProperty("burn_rates").EnumerateArray())
        {
            if (rate.GetProperty("window").GetString() == window)
            {
                return rate.GetProperty("error_ratio").ValueKind == JsonValueKind.Number
                    ? rate.GetProperty("burn_rate").GetDouble().ToString("0.##", CultureInfo.InvariantCulture) + "x"
                    : "-";
            }
        }

        return "-";
    }

    private static string Alert(JsonElement slo, string severity)
    {
        var alert = slo.GetProperty("alerts").GetProperty(severity);
        return alert.GetProperty("enabled").GetBoolean() ? alert.GetProperty("state").GetString() ?? "" : "off";
    }
}
