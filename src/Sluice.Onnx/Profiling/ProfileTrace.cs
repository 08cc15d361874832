using System.Text.Json;

namespace Sluice.Onnx.Profiling;

/// <summary>
/// Reads ONNX Runtime's profiler output (a Chrome trace: a JSON array of events). Node kernel events have <c>cat</c> "Node",
/// a name ending in <c>_kernel_time</c>, <c>dur</c> in microseconds and <c>args.op_name</c>; whole runs are <c>cat</c> "Session"
/// events named <c>model_run</c>. Events before the end of the first <paramref name="skipRuns"/> runs are dropped (warm-up).
/// </summary>
public static class ProfileTrace
{
    private const string KernelSuffix = "_kernel_time";

    /// <summary>Aggregates a trace into per-node and per-operator-type times.</summary>
    public static LayerProfile Aggregate(string traceJson, int skipRuns)
    {
        using var document = JsonDocument.Parse(traceJson);
        var events = document.RootElement.ValueKind == JsonValueKind.Array
            ? document.RootElement
            : document.RootElement.GetProperty("traceEvents");

        var runs = new List<(long Start, long Duration)>();
        foreach (var e in events.EnumerateArray())
        {
            if (Category(e) == "Session" && Name(e) == "model_run")
            {
                runs.Add((Long(e, "ts"), Long(e, "dur")));
            }
        }

        runs.Sort();
        var cutoff = skipRuns > 0 && runs.Count > skipRuns ? runs[skipRuns - 1].Start + runs[skipRuns - 1].Duration : long.MinValue;
        var measured = runs.Where(r => r.Start >= cutoff).ToList();

        var byNode = new Dictionary<string, (string OpType, List<double> Times)>(StringComparer.Ordinal);
        foreach (var e in events.EnumerateArray())
        {
            var name = Name(e);
            if (Category(e) != "Node" || !name.EndsWith(KernelSuffix, StringComparison.Ordinal) || Long(e, "ts") < cutoff)
            {
                continue;
            }

            var node = name[..^KernelSuffix.Length];
            var opType = e.TryGetProperty("args", out var args) && args.TryGetProperty("op_name", out var op) ? op.GetString() ?? "" : "";
            if (!byNode.TryGetValue(node, out var entry))
            {
                entry = (opType, []);
                byNode[node] = entry;
            }

            entry.Times.Add(Long(e, "dur"));
        }

        var total = byNode.Values.Sum(v => v.Times.Sum());
        var nodes = byNode.Select(p => Summarize(p.Key, p.Value.OpType, p.Value.Times, total))
            .OrderByDescending(n => n.TotalMicroseconds).ThenBy(n => n.Name, StringComparer.Ordinal).ToList();

        // Per op type: p50 over the per-run sums of its nodes would need run ids; the median of its kernel times is what we report.
        var opTypes = byNode.GroupBy(p => p.Value.OpType, StringComparer.Ordinal)
            .Select(g => Summarize(g.Key, g.Key, g.SelectMany(p => p.Value.Times).ToList(), total))
            .OrderByDescending(n => n.TotalMicroseconds).ThenBy(n => n.Name, StringComparer.Ordinal).ToList();

        var runCount = measured.Count;
        var runMean = runCount == 0 ? 0 : measured.Average(r => (double)r.Duration);
        return new LayerProfile(runCount, runMean, nodes, opTypes);
    }

    private static LayerTime Summarize(string name, string opType, List<double> times, double total)
    {
        times.Sort();
        var sum = times.Sum();
        var p50 = times.Count == 0 ? 0 : times.Count % 2 == 1 ? times[times.Count / 2] : (times[times.Count / 2 - 1] + times[times.Count / 2]) / 2;
        return new LayerTime(name, opType, times.Count, sum, times.Count == 0 ? 0 : sum / times.Count, p50, total > 0 ? sum / total : 0);
    }

    private static string Category(JsonElement e) => e.TryGetProperty("cat", out var c) ? c.GetString() ?? "" : "";

    private static string Name(JsonElement e) => e.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "";

    private static long Long(JsonElement e, string property) =>
        e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
}
