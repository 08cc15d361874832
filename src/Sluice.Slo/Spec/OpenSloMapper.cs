using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Sluice.Slo.Spec;

/// <summary>
/// Maps OpenSLO v1 documents onto <see cref="SloSpec"/> for the kinds that map: an <c>SLO</c> whose indicator (inline or by
/// <c>indicatorRef</c> to an <c>SLI</c> document) is a <c>ratioMetric</c> over Sluice's own request events, giving a latency or
/// availability SLI with occurrences budgeting over one rolling window.
/// </summary>
/// <remarks>
/// The metric sources use <c>type: sluice</c>; their <c>spec</c> says which requests they count:
/// <list type="bullet">
/// <item><c>total: {metricSource: {type: sluice, spec: {model: m}}}</c>: every counted request of model m;</item>
/// <item><c>good: {... spec: {model: m, latency: {phase: compute, threshold: 50ms}}}</c>: latency SLI;</item>
/// <item><c>good: {... spec: {model: m, outcome: success}}</c>: availability SLI with the default bad reasons;</item>
/// <item><c>bad: {... spec: {model: m, outcome: failure, reasons: [queue_full, ...]}}</c>: availability SLI with these bad reasons.</item>
/// </list>
/// Threshold metrics, calendar windows, several objectives and other metric source types are reported as errors.
/// </remarks>
internal sealed class OpenSloMapper
{
    private readonly List<(SpecReader Reader, YamlMappingNode Root)> _slos = [];
    private readonly Dictionary<string, (SpecReader Reader, YamlMappingNode Spec)> _slis = new(StringComparer.Ordinal);

    public void Add(SpecReader reader, YamlMappingNode root)
    {
        reader.RejectUnknownKeys(root, "", "apiVersion", "kind", "metadata", "spec");
        var apiVersion = reader.String(root, "apiVersion", "");
        if (apiVersion != "openslo/v1")
        {
            reader.Error(reader.Child(root, "apiVersion")!, "apiVersion", $"unsupported apiVersion '{apiVersion}'; expected openslo/v1");
            return;
        }

        var kind = reader.String(root, "kind", "", required: true);
        switch (kind)
        {
            case "SLO":
                _slos.Add((reader, root));
                break;
            case "SLI":
                var name = Metadata(reader, root)?.Name;
                if (name is not null && reader.Required(root, "spec", "") is { } spec && reader.AsMapping(spec, "spec") is { } specMap)
                {
                    _slis[name] = (reader, specMap);
                }

                break;
            case null:
                break;
            default:
                reader.Error(reader.Child(root, "kind")!, "kind",
                    $"OpenSLO kind '{kind}' is not supported; only SLO and SLI documents map to Sluice SLOs");
                break;
        }
    }

    /// <summary>Maps the collected SLO documents, now that every SLI document is known.</summary>
    public void Resolve(List<SloSpec> slos, List<SloSpecError> errors)
    {
        foreach (var (reader, root) in _slos)
        {
            int before = reader.Errors.Count;
            var slo = Map(reader, root);
            if (slo is not null && reader.Errors.Count == before)
            {
                slos.Add(slo);
            }
        }

        // SLO documents' errors were recorded after the per-file pass had copied its errors: copy the new ones now.
        foreach (var reader in _slos.Select(s => s.Reader).Concat(_slis.Values.Select(s => s.Reader)).Distinct())
        {
            foreach (var error in reader.Errors)
            {
                if (!errors.Contains(error))
                {
                    errors.Add(error);
                }
            }
        }
    }

    private static (string Name, string? DisplayName)? Metadata(SpecReader reader, YamlMappingNode root)
    {
        if (reader.Required(root, "metadata", "") is not { } node || reader.AsMapping(node, "metadata") is not { } metadata)
        {
            return null;
        }

        var name = reader.String(metadata, "name", "metadata", required: true);
        return name is null ? null : (name, reader.String(metadata, "displayName", "metadata"));
    }

    private SloSpec? Map(SpecReader reader, YamlMappingNode root)
    {
        var meta = Metadata(reader, root);
        if (reader.Required(root, "spec", "") is not { } specNode || reader.AsMapping(specNode, "spec") is not { } spec)
        {
            return null;
        }

        reader.RejectUnknownKeys(spec, "spec",
            "description", "service", "indicator", "indicatorRef", "timeWindow", "budgetingMethod", "objectives", "alertPolicies");
        var service = reader.String(spec, "service", "spec", required: true) ?? "sluice";
        var description = reader.String(spec, "description", "spec") ?? meta?.DisplayName ?? "";

        // :: The indicator, inline or by reference.
        SliSpec? sli = null;
        string? model = null;
        if (reader.Child(spec, "indicator") is { } inline)
        {
            if (reader.AsMapping(inline, "spec.indicator") is { } indicator &&
                reader.Required(indicator, "spec", "spec.indicator") is { } sliSpecNode &&
                reader.AsMapping(sliSpecNode, "spec.indicator.spec") is { } sliSpec)
            {
                (sli, model) = MapIndicator(reader, sliSpec, "spec.indicator.spec");
            }
        }
        else if (reader.String(spec, "indicatorRef", "spec") is { } reference)
        {
            if (_slis.TryGetValue(reference, out var found))
            {
                (sli, model) = MapIndicator(found.Reader, found.Spec, "spec");
            }
            else
            {
                reader.Error(reader.Child(spec, "indicatorRef")!, "spec.indicatorRef", $"no SLI document named '{reference}'");
            }
        }
        else
        {
            reader.Error(spec, "spec.indicator", "is required (or spec.indicatorRef)");
        }

        // :: The window: one rolling window.
        TimeSpan window = TimeSpan.FromDays(30);
        if (reader.Required(spec, "timeWindow", "spec") is { } windowNode)
        {
            if (windowNode is not YamlSequenceNode { Children.Count: 1 } windows || reader.AsMapping(windows.Children[0], "spec.timeWindow[0]") is not { } w)
            {
                reader.Error(windowNode, "spec.timeWindow", "must be a list with exactly one window");
            }
            else
            {
                window = reader.Duration(w, "duration", "spec.timeWindow[0]", required: true) ?? window;
                if (reader.Child(w, "isRolling") is { } rolling && reader.Bool(rolling, "spec.timeWindow[0].isRolling") == false)
                {
                    reader.Error(rolling, "spec.timeWindow[0].isRolling", "calendar-aligned windows are not supported; use isRolling: true");
                }

                if (reader.Child(w, "calendar") is { } calendar)
                {
                    reader.Error(calendar, "spec.timeWindow[0].calendar", "calendar-aligned windows are not supported");
                }
            }
        }

        var budgeting = reader.String(spec, "budgetingMethod", "spec", required: true);
        if (budgeting is not null && budgeting != "Occurrences")
        {
            reader.Error(reader.Child(spec, "budgetingMethod")!, "spec.budgetingMethod",
                $"only Occurrences maps to a request-based Sluice SLO, got '{budgeting}'");
        }

        // :: The objective: exactly one, as target (ratio) or targetPercent.
        double? objective = null;
        if (reader.Required(spec, "objectives", "spec") is { } objectivesNode)
        {
            if (objectivesNode is not YamlSequenceNode { Children.Count: 1 } objectives || reader.AsMapping(objectives.Children[0], "spec.objectives[0]") is not { } o)
            {
                reader.Error(objectivesNode, "spec.objectives", "must be a list with exactly one objective");
            }
            else
            {
                var target = reader.Double(o, "target", "spec.objectives[0]");
                var percent = reader.Double(o, "targetPercent", "spec.objectives[0]");
                objective = target ?? percent / 100;
                if (objective is null)
                {
                    reader.Error(o, "spec.objectives[0].target", "is required (or targetPercent)");
                }
                else if (objective is <= 0 or >= 1)
                {
                    reader.Error(o, "spec.objectives[0].target",
                        $"must be in (0, 1), got {objective.Value.ToString(CultureInfo.InvariantCulture)}");
                    objective = null;
                }
            }
        }

        SloSpecLoader.CheckCommon(reader, reader.Child(root, "metadata") as YamlMappingNode ?? root,
            "metadata", meta?.Name, window, TimeSpan.FromMinutes(1), BudgetingMethod.Occurrences, sli);

        if (meta is null || sli is null || model is null || objective is null)
        {
            return null;
        }

        return new SloSpec
        {
            Name = meta.Value.Name,
            Service = service,
            Model = model,
            Description = description,
            Objective = objective.Value,
            Window = window,
            BudgetingMethod = BudgetingMethod.Occurrences,
            Sli = sli,
            Location = reader.LocationOf(root),
        };
    }

    private static (SliSpec? Sli, string? Model) MapIndicator(SpecReader reader, YamlMappingNode spec, string field)
    {
        if (reader.Child(spec, "ratioMetric") is not { } ratioNode)
        {
            reader.Error(spec, field, "only ratioMetric indicators map to Sluice SLOs (thresholdMetric does not)");
            return (null, null);
        }

        var ratioField = $"{field}.ratioMetric";
        if (reader.AsMapping(ratioNode, ratioField) is not { } ratio)
        {
            return (null, null);
        }

        reader.RejectUnknownKeys(ratio, ratioField, "counter", "good", "bad", "total", "rawType", "raw");
        var total = Source(reader, ratio, "total", ratioField, required: true);
        var good = Source(reader, ratio, "good", ratioField, required: false);
        var bad = Source(reader, ratio, "bad", ratioField, required: false);
        if ((good is null) == (bad is null))
        {
            reader.Error(ratio, ratioField, "must have exactly one of good or bad, beside total");
            return (null, null);
        }

        var (sourceMap, sourceField) = good ?? bad!.Value;
        var model = reader.String(sourceMap, "model", sourceField, required: true);
        if (total is { } t && reader.String(t.Map, "model", t.Field) is { } totalModel && model is not null && totalModel != model)
        {
            reader.Error(t.Map, $"{t.Field}.model", $"'{totalModel}' differs from the {(good is null ? "bad" : "good")} metric's model '{model}'");
        }

        if (good is not null)
        {
            reader.RejectUnknownKeys(sourceMap, sourceField, "model", "latency", "ttft", "itl", "outcome");
            if (reader.Child(sourceMap, "latency") is { } latencyNode)
            {
                return reader.AsMapping(latencyNode, $"{sourceField}.latency") is { } latency
                    ? (SloSpecLoader.ReadLatency(reader, latency, $"{sourceField}.latency"), model)
                    : (null, model);
            }

            if (reader.Child(sourceMap, "ttft") is { } ttftNode)
            {
                return reader.AsMapping(ttftNode, $"{sourceField}.ttft") is { } ttft
                    ? (SloSpecLoader.ReadTtft(reader, ttft, $"{sourceField}.ttft"), model)
                    : (null, model);
            }

            if (reader.Child(sourceMap, "itl") is { } itlNode)
            {
                return reader.AsMapping(itlNode, $"{sourceField}.itl") is { } itl
                    ? (SloSpecLoader.ReadItl(reader, itl, $"{sourceField}.itl"), model)
                    : (null, model);
            }

            var outcome = reader.String(sourceMap, "outcome", sourceField);
            if (outcome == "success")
            {
                return (new AvailabilitySli(AvailabilitySli.ServerSideFailures), model);
            }

            reader.Error(sourceMap, sourceField,
                "a good metric must name latency: {phase, threshold}, ttft: {threshold}, itl: {threshold, statistic} or outcome: success");
            return (null, model);
        }

        reader.RejectUnknownKeys(sourceMap, sourceField, "model", "outcome", "reasons");
        if (reader.String(sourceMap, "outcome", sourceField) != "failure")
        {
            reader.Error(sourceMap, $"{sourceField}.outcome", "a bad metric must say outcome: failure");
            return (null, model);
        }

        if (reader.Child(sourceMap, "reasons") is not { } reasonsNode)
        {
            return (new AvailabilitySli(AvailabilitySli.ServerSideFailures), model);
        }

        return SloSpecLoader.ParseBadReasons(reader, reasonsNode, $"{sourceField}.reasons") is { } reasons
            ? (new AvailabilitySli(reasons), model)
            : (null, model);
    }

    private static (YamlMappingNode Map, string Field)? Source(SpecReader reader, YamlMappingNode ratio, string key, string ratioField, bool required)
    {
        var node = required ? reader.Required(ratio, key, ratioField) : reader.Child(ratio, key);
        var field = $"{ratioField}.{key}";
        if (node is null || reader.AsMapping(node, field) is not { } metric ||
            reader.Required(metric, "metricSource", field) is not { } sourceNode ||
            reader.AsMapping(sourceNode, $"{field}.metricSource") is not { } source)
        {
            return null;
        }

        var type = reader.String(source, "type", $"{field}.metricSource", required: true);
        if (type is not null && !type.Equals("sluice", StringComparison.OrdinalIgnoreCase))
        {
            reader.Error(reader.Child(source, "type")!, $"{field}.metricSource.type",
                $"metric source type '{type}' does not map; use type: sluice (Sluice's own request events)");
            return null;
        }

        var specNode = reader.Required(source, "spec", $"{field}.metricSource");
        return specNode is not null && reader.AsMapping(specNode, $"{field}.metricSource.spec") is { } spec
            ? (spec, $"{field}.metricSource.spec")
            : null;
    }
}
