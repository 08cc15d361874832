using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Sluice.Core.Inference;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Sluice.Slo.Spec;

/// <summary>The result of loading spec files: the valid SLOs and every error found (all of them, not the first).</summary>
public sealed record SloSpecSet(IReadOnlyList<SloSpec> Slos, IReadOnlyList<SloSpecError> Errors)
{
    /// <summary>True when no error was found.</summary>
    public bool IsValid => Errors.Count == 0;
}

/// <summary>
/// Loads SLO specs from YAML: Sluice's own format (a mapping with <c>slos:</c>) and OpenSLO v1 <c>SLO</c>/<c>SLI</c>
/// documents, in any mix of documents (<c>---</c>) and files. Validates everything and reports all errors at once.
/// </summary>
public static partial class SloSpecLoader
{
    private static readonly string[] TopLevelKeys = ["apiVersion", "kind", "service", "slos"];
    private static readonly string[] SloKeys =
        ["name", "service", "model", "version", "description", "objective", "window", "budgeting", "timeslice", "sli", "alerting"];

    /// <summary>Loads and validates files.</summary>
    /// <param name="paths">Spec files.</param>
    /// <param name="knownModels">When given, SLOs for other models are errors.</param>
    public static SloSpecSet LoadFiles(IEnumerable<string> paths, IReadOnlyCollection<string>? knownModels = null)
    {
        var sources = new List<(string, string)>();
        var errors = new List<SloSpecError>();
        foreach (var path in paths)
        {
            try
            {
                sources.Add((Path.GetFileName(path), File.ReadAllText(path)));
            }
            catch (IOException)
            {
                errors.Add(new SloSpecError(Path.GetFileName(path), 0, 0, "", "the file cannot be read"));
            }
            catch (UnauthorizedAccessException)
            {
                errors.Add(new SloSpecError(Path.GetFileName(path), 0, 0, "", "the file cannot be read (access denied)"));
            }
        }

        var result = Parse(sources, knownModels);
        return errors.Count == 0 ? result : result with { Errors = [.. errors, .. result.Errors] };
    }

    /// <summary>Parses one YAML text.</summary>
    public static SloSpecSet Parse(string yaml, string fileName, IReadOnlyCollection<string>? knownModels = null) =>
        Parse([(fileName, yaml)], knownModels);

    /// <summary>Parses several YAML texts as one set (names unique across all of them).</summary>
    public static SloSpecSet Parse(IEnumerable<(string FileName, string Yaml)> sources, IReadOnlyCollection<string>? knownModels = null)
    {
        var slos = new List<SloSpec>();
        var errors = new List<SloSpecError>();
        var openSlo = new OpenSloMapper();
        foreach (var (fileName, yaml) in sources)
        {
            var reader = new SpecReader(fileName);
            var stream = new YamlStream();
            try
            {
                stream.Load(new StringReader(yaml));
            }
            catch (YamlException e)
            {
                errors.Add(new SloSpecError(fileName, (int)e.Start.Line, (int)e.Start.Column, "", $"invalid YAML: {e.Message}"));
                continue;
            }

            foreach (var document in stream.Documents)
            {
                if (reader.AsMapping(document.RootNode, "") is not { } root)
                {
                    continue;
                }

                var apiVersion = reader.Child(root, "apiVersion") as YamlScalarNode;
                if (apiVersion?.Value?.StartsWith("openslo/", StringComparison.Ordinal) == true)
                {
                    openSlo.Add(reader, root);
                }
                else
                {
                    ReadNative(reader, root, slos);
                }
            }

            errors.AddRange(reader.Errors);
        }

        openSlo.Resolve(slos, errors);
        CheckSet(slos, errors, knownModels);
        return new SloSpecSet(slos, errors);
    }

    private static void ReadNative(SpecReader reader, YamlMappingNode root, List<SloSpec> slos)
    {
        reader.RejectUnknownKeys(root, "", TopLevelKeys);
        if (reader.Child(root, "apiVersion") is YamlScalarNode { Value: { } version } node && version != "sluice/v1")
        {
            reader.Error(node, "apiVersion", $"unsupported apiVersion '{version}'; expected sluice/v1 or openslo/v1");
        }

        var service = reader.String(root, "service", "") ?? "sluice";
        if (reader.Required(root, "slos", "") is not { } slosNode)
        {
            return;
        }

        if (slosNode is not YamlSequenceNode sequence)
        {
            reader.Error(slosNode, "slos", "must be a list of SLOs");
            return;
        }

        for (int i = 0; i < sequence.Children.Count; i++)
        {
            var field = $"slos[{i}]";
            if (reader.AsMapping(sequence.Children[i], field) is { } map && ReadSlo(reader, map, field, service) is { } slo)
            {
                slos.Add(slo);
            }
        }
    }

    private static SloSpec? ReadSlo(SpecReader reader, YamlMappingNode map, string field, string defaultService)
    {
        int errorsBefore = reader.Errors.Count;
        reader.RejectUnknownKeys(map, field, SloKeys);
        var name = reader.String(map, "name", field, required: true);
        var service = reader.String(map, "service", field) ?? defaultService;
        var model = reader.String(map, "model", field, required: true);
        var version = reader.String(map, "version", field);
        var description = reader.String(map, "description", field) ?? "";
        var objectivePercent = reader.Double(map, "objective", field);
        var window = reader.Duration(map, "window", field) ?? TimeSpan.FromDays(30);
        var timeslice = reader.Duration(map, "timeslice", field) ?? TimeSpan.FromMinutes(1);
        var budgetingText = reader.String(map, "budgeting", field);

        SliSpec? sli = null;
        if (reader.Required(map, "sli", field) is { } sliNode && reader.AsMapping(sliNode, $"{field}.sli") is { } sliMap)
        {
            sli = ReadSli(reader, sliMap, $"{field}.sli");
        }

        var alerting = reader.Child(map, "alerting") is { } alertingNode
            ? ReadAlerting(reader, alertingNode, $"{field}.alerting")
            : AlertingSpec.Default;

        BudgetingMethod? budgeting = budgetingText switch
        {
            null => sli is null ? null : sli.IsRequestBased ? BudgetingMethod.Occurrences : BudgetingMethod.Timeslices,
            "occurrences" => BudgetingMethod.Occurrences,
            "timeslices" => BudgetingMethod.Timeslices,
            _ => null,
        };
        if (budgetingText is not null && budgeting is null)
        {
            reader.Error(reader.Child(map, "budgeting")!, $"{field}.budgeting",
                $"must be occurrences or timeslices, got '{budgetingText}'");
        }

        double? objective = null;
        var objectiveNode = reader.Child(map, "objective");
        if (sli is ResourceSli resource)
        {
            if (objectiveNode is not null)
            {
                reader.Error(objectiveNode, $"{field}.objective",
                    "a resource SLO's objective is derived from sli.resource.max_duration_above and the window; remove it");
            }
            else if (resource.MaxDurationAbove >= window)
            {
                reader.Error(map, $"{field}.sli.resource.max_duration_above",
                    $"must be shorter than the window ({DurationText.Format(window)})");
            }
            else
            {
                objective = 1 - (resource.MaxDurationAbove.TotalSeconds / window.TotalSeconds);
            }
        }
        else if (objectiveNode is null)
        {
            reader.Error(map, $"{field}.objective", "is required (a percentage such as 99.9)");
        }
        else if (objectivePercent is { } percent)
        {
            if (percent is <= 0 or >= 100)
            {
                reader.Error(objectiveNode, $"{field}.objective", $"must be a percentage between 0 and 100 (exclusive), got {percent.ToString(CultureInfo.InvariantCulture)}");
            }
            else
            {
                objective = Math.Round(percent / 100, 12);   // 99.9 / 100 is 0.9990000000000001 in binary; keep the decimal meaning
            }
        }

        CheckCommon(reader, map, field, name, window, timeslice, budgeting, sli);

        if (reader.Errors.Count != errorsBefore || name is null || model is null || sli is null || objective is null || budgeting is null)
        {
            return null;
        }

        return new SloSpec
        {
            Name = name,
            Service = service,
            Model = model,
            ModelVersion = version,
            Description = description,
            Objective = objective.Value,
            Window = window,
            BudgetingMethod = budgeting.Value,
            TimesliceLength = timeslice,
            Sli = sli,
            Alerting = alerting,
            Location = reader.LocationOf(map),
        };
    }

    /// <summary>Checks shared by both formats.</summary>
    internal static void CheckCommon(
        SpecReader reader, YamlMappingNode map, string field, string? name, TimeSpan window, TimeSpan timeslice,
        BudgetingMethod? budgeting, SliSpec? sli)
    {
        if (name is not null && !NamePattern().IsMatch(name))
        {
            reader.Error(reader.Child(map, "name") ?? map, $"{field}.name",
                $"'{name}' must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit");
        }

        if (window < TimeSpan.FromHours(1) || window > TimeSpan.FromDays(90))
        {
            reader.Error(reader.Child(map, "window") ?? map, $"{field}.window",
                $"must be between 1h and 90d, got {DurationText.Format(window)}");
        }

        // Slices are judged at evaluations (every 30 s by default) and counted in minute buckets: a minute is the finest slice.
        if (timeslice < TimeSpan.FromMinutes(1) || timeslice > TimeSpan.FromHours(1))
        {
            reader.Error(reader.Child(map, "timeslice") ?? map, $"{field}.timeslice",
                $"must be between 1m and 1h, got {DurationText.Format(timeslice)}");
        }

        if (sli is { IsSequenceBased: true } && reader.Child(map, "version") is { } versionNode)
        {
            reader.Error(versionNode, $"{field}.version",
                $"a {sli.Kind.ToString().ToLowerInvariant()} SLI judges a decoder model's generated sequences, which carry no version; remove it");
        }

        if (sli is not null && budgeting is { } method)
        {
            if (sli.IsRequestBased && method != BudgetingMethod.Occurrences)
            {
                reader.Error(reader.Child(map, "budgeting") ?? map, $"{field}.budgeting",
                    $"a {sli.Kind.ToString().ToLowerInvariant()} SLI counts {(sli.IsSequenceBased ? "generated sequences" : "requests")} and needs occurrences budgeting");
            }
            else if (!sli.IsRequestBased && method != BudgetingMethod.Timeslices)
            {
                reader.Error(reader.Child(map, "budgeting") ?? map, $"{field}.budgeting",
                    $"a {sli.Kind.ToString().ToLowerInvariant()} SLI judges time slices and needs timeslices budgeting");
            }
        }
    }

    private static SliSpec? ReadSli(SpecReader reader, YamlMappingNode map, string field)
    {
        if (map.Children.ContainsKey(new YamlScalarNode("kind")))
        {
            // `sli: {kind: ttft, threshold: 500ms}` reads naturally but is not the format: the kind is the key.
            var kindNode = map.Children[new YamlScalarNode("kind")];
            var named = (kindNode as YamlScalarNode)?.Value ?? "latency";
            reader.Error(kindNode, $"{field}.kind",
                $"the SLI kind is the key of its settings, not a field: write sli: {{{named}: {{threshold: ...}}}}");
            return null;
        }

        if (map.Children.Count != 1)
        {
            reader.Error(map, field, "must hold exactly one of: latency, availability, throughput, resource, batching, ttft, itl");
            return null;
        }

        var (keyNode, valueNode) = map.Children.First();
        var kind = (keyNode as YamlScalarNode)?.Value ?? "";
        var kindField = $"{field}.{kind}";
        if (kind is not ("latency" or "availability" or "throughput" or "resource" or "batching" or "ttft" or "itl"))
        {
            reader.Error(keyNode, kindField,
                $"unknown SLI kind '{kind}'; expected latency, availability, throughput, resource, batching, ttft or itl");
            return null;
        }

        var body = valueNode is YamlScalarNode { Value: null or "" } ? new YamlMappingNode() : reader.AsMapping(valueNode, kindField);
        if (body is null)
        {
            return null;
        }

        return kind switch
        {
            "latency" => ReadLatency(reader, body, kindField),
            "availability" => ReadAvailability(reader, body, kindField),
            "throughput" => ReadThroughput(reader, body, kindField),
            "resource" => ReadResource(reader, body, kindField),
            "ttft" => ReadTtft(reader, body, kindField),
            "itl" => ReadItl(reader, body, kindField),
            _ => ReadBatching(reader, body, kindField),
        };
    }

    internal static TtftSli? ReadTtft(SpecReader reader, YamlMappingNode map, string field)
    {
        reader.RejectUnknownKeys(map, field, "threshold");
        return ReadPositiveThreshold(reader, map, field) is { } threshold ? new TtftSli(threshold) : null;
    }

    internal static ItlSli? ReadItl(SpecReader reader, YamlMappingNode map, string field)
    {
        reader.RejectUnknownKeys(map, field, "threshold", "statistic");
        var threshold = ReadPositiveThreshold(reader, map, field);
        var statisticText = reader.String(map, "statistic", field);
        ItlStatistic? statistic = statisticText switch
        {
            null or "mean" => ItlStatistic.Mean,
            "p95" => ItlStatistic.P95,
            _ => null,
        };
        if (statistic is null)
        {
            reader.Error(reader.Child(map, "statistic")!, $"{field}.statistic", $"must be mean or p95, got '{statisticText}'");
        }

        return threshold is null || statistic is null ? null : new ItlSli(threshold.Value, statistic.Value);
    }

    /// <summary>A required <c>threshold</c> duration greater than zero.</summary>
    private static TimeSpan? ReadPositiveThreshold(SpecReader reader, YamlMappingNode map, string field)
    {
        var threshold = reader.Duration(map, "threshold", field, required: true);
        if (threshold is { } t && t <= TimeSpan.Zero)
        {
            reader.Error(reader.Child(map, "threshold")!, $"{field}.threshold", "must be greater than zero");
            return null;
        }

        return threshold;
    }

    internal static LatencySli? ReadLatency(SpecReader reader, YamlMappingNode map, string field)
    {
        reader.RejectUnknownKeys(map, field, "phase", "threshold");
        var phaseText = reader.String(map, "phase", field, required: true);
        var threshold = reader.Duration(map, "threshold", field, required: true);
        var phase = ParsePhase(reader, map, field, phaseText);
        if (threshold is { } t && t <= TimeSpan.Zero)
        {
            reader.Error(reader.Child(map, "threshold")!, $"{field}.threshold", "must be greater than zero");
            return null;
        }

        return phase is null || threshold is null ? null : new LatencySli(phase.Value, threshold.Value);
    }

    internal static LatencyPhase? ParsePhase(SpecReader reader, YamlMappingNode map, string field, string? phaseText)
    {
        LatencyPhase? phase = phaseText switch
        {
            null => null,
            "end_to_end" => LatencyPhase.EndToEnd,
            "queue" => LatencyPhase.Queue,
            "compute" => LatencyPhase.Compute,
            "compute_infer" => LatencyPhase.ComputeInfer,
            _ => null,
        };
        if (phaseText is not null && phase is null)
        {
            reader.Error(reader.Child(map, "phase")!, $"{field}.phase",
                $"must be end_to_end, queue, compute or compute_infer, got '{phaseText}'");
        }

        return phase;
    }

    internal static AvailabilitySli? ReadAvailability(SpecReader reader, YamlMappingNode map, string field)
    {
        reader.RejectUnknownKeys(map, field, "bad_reasons");
        if (reader.Child(map, "bad_reasons") is not { } node)
        {
            return new AvailabilitySli(AvailabilitySli.ServerSideFailures);
        }

        return ParseBadReasons(reader, node, $"{field}.bad_reasons") is { } reasons ? new AvailabilitySli(reasons) : null;
    }

    internal static FrozenSet<InferenceError>? ParseBadReasons(SpecReader reader, YamlNode node, string field)
    {
        if (node is not YamlSequenceNode { Children.Count: > 0 } list)
        {
            reader.Error(node, field, "must be a non-empty list of failure reasons");
            return null;
        }

        var reasons = new HashSet<InferenceError>();
        bool ok = true;
        foreach (var item in list.Children)
        {
            var text = (item as YamlScalarNode)?.Value ?? "";
            var match = Enum.GetValues<InferenceError>().Where(e => ToSnakeCase(e.ToString()) == text).ToArray();
            if (match.Length == 0 || match[0] == InferenceError.None)
            {
                reader.Error(item, field, $"unknown failure reason '{text}'; expected one of: " +
                    string.Join(", ", Enum.GetValues<InferenceError>().Where(e => e != InferenceError.None && !AvailabilitySli.ClientSideReasons.Contains(e)).Select(e => ToSnakeCase(e.ToString()))));
                ok = false;
            }
            else if (AvailabilitySli.ClientSideReasons.Contains(match[0]))
            {
                reader.Error(item, field, $"'{text}' is a client-side outcome and never counts against the server's availability");
                ok = false;
            }
            else
            {
                reasons.Add(match[0]);
            }
        }

        return ok ? reasons.ToFrozenSet() : null;
    }

    private static ThroughputSli? ReadThroughput(SpecReader reader, YamlMappingNode map, string field)
    {
        reader.RejectUnknownKeys(map, field, "min_fraction_of_peak", "load");
        var fraction = reader.Double(map, "min_fraction_of_peak", field, required: true);
        if (fraction is { } f && f is <= 0 or > 1)
        {
            reader.Error(reader.Child(map, "min_fraction_of_peak")!, $"{field}.min_fraction_of_peak",
                $"must be in (0, 1], got {f.ToString(CultureInfo.InvariantCulture)}");
            return null;
        }

        var load = ReadLoad(reader, map, field, new LoadCondition(1, 0.5));
        return fraction is null || load is null ? null : new ThroughputSli(fraction.Value, load);
    }

    private static LoadCondition? ReadLoad(SpecReader reader, YamlMappingNode map, string field, LoadCondition defaults)
    {
        if (reader.Child(map, "load") is not { } node)
        {
            return defaults;
        }

        var loadField = $"{field}.load";
        if (reader.AsMapping(node, loadField) is not { } load)
        {
            return null;
        }

        reader.RejectUnknownKeys(load, loadField, "min_inferences_per_second", "min_backlogged_share");
        var rate = reader.Double(load, "min_inferences_per_second", loadField) ?? defaults.MinInferencesPerSecond;
        var share = reader.Double(load, "min_backlogged_share", loadField) ?? defaults.MinBackloggedShare;
        if (rate < 0)
        {
            reader.Error(load, $"{loadField}.min_inferences_per_second", "must not be negative");
            return null;
        }

        if (share is < 0 or > 1)
        {
            reader.Error(load, $"{loadField}.min_backlogged_share", "must be in [0, 1]");
            return null;
        }

        return new LoadCondition(rate, share);
    }

    private static ResourceSli? ReadResource(SpecReader reader, YamlMappingNode map, string field)
    {
        reader.RejectUnknownKeys(map, field, "gauge", "threshold", "max_duration_above");
        var gauge = reader.String(map, "gauge", field, required: true);
        gauge = gauge switch
        {
            "process_memory" => "process_memory_utilization",
            "gpu_memory" => "gpu_memory_utilization",
            "cpu_memory" => "cpu_memory_utilization",
            _ => gauge,
        };
        if (gauge is not null && !ResourceSli.KnownGauges.Contains(gauge))
        {
            reader.Error(reader.Child(map, "gauge")!, $"{field}.gauge",
                $"unknown gauge '{gauge}'; expected one of: {string.Join(", ", ResourceSli.KnownGauges.Order())}");
            gauge = null;
        }

        double? threshold = null;
        if (reader.Required(map, "threshold", field) is YamlScalarNode { Value: { } text } thresholdNode)
        {
            var isPercent = text.EndsWith('%');
            if (double.TryParse(isPercent ? text[..^1] : text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) &&
                (isPercent ? value is >= 0 and <= 100 : value is >= 0 and <= 1))
            {
                threshold = isPercent ? value / 100 : value;
            }
            else
            {
                reader.Error(thresholdNode, $"{field}.threshold", $"must be a fraction in [0, 1] or a percentage such as 85%, got '{text}'");
            }
        }

        var maxAbove = reader.Duration(map, "max_duration_above", field, required: true);
        return gauge is null || threshold is null || maxAbove is null ? null : new ResourceSli(gauge, threshold.Value, maxAbove.Value);
    }

    private static BatchingSli? ReadBatching(SpecReader reader, YamlMappingNode map, string field)
    {
        reader.RejectUnknownKeys(map, field, "measure", "min", "load");
        var measureText = reader.String(map, "measure", field, required: true);
        BatchingMeasure? measure = measureText switch
        {
            null => null,
            "average_batch_size" => BatchingMeasure.AverageBatchSize,
            "batch_hit_rate" => BatchingMeasure.BatchHitRate,
            _ => null,
        };
        if (measureText is not null && measure is null)
        {
            reader.Error(reader.Child(map, "measure")!, $"{field}.measure",
                $"must be average_batch_size or batch_hit_rate, got '{measureText}'");
        }

        var min = reader.Double(map, "min", field, required: true);
        if (min is { } m && (m <= 0 || (measure == BatchingMeasure.BatchHitRate && m > 1)))
        {
            reader.Error(reader.Child(map, "min")!, $"{field}.min",
                measure == BatchingMeasure.BatchHitRate ? "must be in (0, 1] for batch_hit_rate" : "must be greater than zero");
            return null;
        }

        var load = ReadLoad(reader, map, field, new LoadCondition(1, 0));
        return measure is null || min is null || load is null ? null : new BatchingSli(measure.Value, min.Value, load);
    }

    private static AlertingSpec ReadAlerting(SpecReader reader, YamlNode node, string field)
    {
        if (reader.AsMapping(node, field) is not { } map)
        {
            return AlertingSpec.Default;
        }

        reader.RejectUnknownKeys(map, field, "runbook_url", "page", "ticket");
        var runbook = reader.String(map, "runbook_url", field);
        if (runbook is not null && !Uri.TryCreate(runbook, UriKind.Absolute, out _))
        {
            reader.Error(reader.Child(map, "runbook_url")!, $"{field}.runbook_url", $"must be an absolute URL, got '{runbook}'");
        }

        return new AlertingSpec(
            runbook,
            ReadSeverity(reader, reader.Child(map, "page"), $"{field}.page", AlertSeverityPolicy.DefaultPage),
            ReadSeverity(reader, reader.Child(map, "ticket"), $"{field}.ticket", AlertSeverityPolicy.DefaultTicket));
    }

    private static AlertSeverityPolicy ReadSeverity(SpecReader reader, YamlNode? node, string field, AlertSeverityPolicy defaults)
    {
        if (node is null)
        {
            return defaults;
        }

        if (node is YamlScalarNode)
        {
            return reader.Bool(node, field) is { } enabled ? defaults with { Enabled = enabled } : defaults;
        }

        if (reader.AsMapping(node, field) is not { } map)
        {
            return defaults;
        }

        reader.RejectUnknownKeys(map, field, "enabled", "for", "labels", "annotations");
        var enabledNode = reader.Child(map, "enabled");
        var isEnabled = enabledNode is null ? true : reader.Bool(enabledNode, $"{field}.enabled") ?? true;
        var forDuration = reader.Duration(map, "for", field) ?? defaults.For;
        return new AlertSeverityPolicy(isEnabled, forDuration,
            reader.StringMap(map, "labels", field), reader.StringMap(map, "annotations", field));
    }

    private static void CheckSet(List<SloSpec> slos, List<SloSpecError> errors, IReadOnlyCollection<string>? knownModels)
    {
        var seen = new Dictionary<string, SloSpec>(StringComparer.Ordinal);
        foreach (var slo in slos)
        {
            if (!seen.TryAdd(slo.Name, slo))
            {
                var first = seen[slo.Name];
                errors.Add(new SloSpecError(slo.Location.File, slo.Location.Line, slo.Location.Column, "name",
                    $"duplicate SLO name '{slo.Name}' (first declared at {first.Location})"));
            }

            if (knownModels is not null && !knownModels.Contains(slo.Model))
            {
                errors.Add(new SloSpecError(slo.Location.File, slo.Location.Line, slo.Location.Column, "model",
                    $"SLO '{slo.Name}' names unknown model '{slo.Model}'; known models: {string.Join(", ", knownModels.Order())}"));
            }
        }

        errors.Sort((a, b) => (a.File, a.Line, a.Column).CompareTo((b.File, b.Line, b.Column)));
    }

    internal static string ToSnakeCase(string pascal)
    {
        var builder = new StringBuilder();
        for (int i = 0; i < pascal.Length; i++)
        {
            if (char.IsUpper(pascal[i]) && i > 0)
            {
                builder.Append('_');
            }

            builder.Append(char.ToLowerInvariant(pascal[i]));
        }

        return builder.ToString();
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial Regex NamePattern();
}
