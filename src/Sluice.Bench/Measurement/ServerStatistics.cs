using System.Text.Json;

namespace Sluice.Bench.Measurement;

/// <summary>One cumulative duration counter of Triton's statistics: how many, and their total nanoseconds.</summary>
public readonly record struct StatDuration(long Count, long Ns)
{
    /// <summary>The increase since <paramref name="earlier"/>.</summary>
    public StatDuration Minus(StatDuration earlier) => new(Count - earlier.Count, Ns - earlier.Ns);

    /// <summary>Adds two counters.</summary>
    public StatDuration Plus(StatDuration other) => new(Count + other.Count, Ns + other.Ns);

    /// <summary>Mean microseconds per counted event, or 0 without events.</summary>
    public double MeanUs => Count > 0 ? Ns / 1000.0 / Count : 0;
}

/// <summary>
/// A model's cumulative statistics (Triton's statistics extension, <c>GET /v2/models/{m}/stats</c> or gRPC ModelStatistics),
/// summed over the versions asked for. Subtracting two snapshots gives what the server did during a window, as
/// perf_analyzer reports it.
/// </summary>
public sealed record ServerStatistics(
    long InferenceCount, long ExecutionCount, StatDuration Success, StatDuration Fail, StatDuration Queue,
    StatDuration ComputeInput, StatDuration ComputeInfer, StatDuration ComputeOutput)
{
    /// <summary>No counts at all.</summary>
    public static ServerStatistics Zero { get; } = new(0, 0, default, default, default, default, default, default);

    /// <summary>The increase since <paramref name="earlier"/>.</summary>
    public ServerStatistics Minus(ServerStatistics earlier) => new(
        InferenceCount - earlier.InferenceCount, ExecutionCount - earlier.ExecutionCount, Success.Minus(earlier.Success),
        Fail.Minus(earlier.Fail), Queue.Minus(earlier.Queue), ComputeInput.Minus(earlier.ComputeInput),
        ComputeInfer.Minus(earlier.ComputeInfer), ComputeOutput.Minus(earlier.ComputeOutput));

    /// <summary>Adds two deltas (windows of the same step).</summary>
    public ServerStatistics Plus(ServerStatistics other) => new(
        InferenceCount + other.InferenceCount, ExecutionCount + other.ExecutionCount, Success.Plus(other.Success),
        Fail.Plus(other.Fail), Queue.Plus(other.Queue), ComputeInput.Plus(other.ComputeInput),
        ComputeInfer.Plus(other.ComputeInfer), ComputeOutput.Plus(other.ComputeOutput));

    /// <summary>Average batch size: inferences per execution.</summary>
    public double AverageBatchSize => ExecutionCount > 0 ? (double)InferenceCount / ExecutionCount : 0;

    /// <summary>Parses Triton's statistics JSON, summing the entries of <paramref name="model"/> (and <paramref name="version"/> when given).</summary>
    public static ServerStatistics ParseJson(string json, string model, string? version)
    {
        using var document = JsonDocument.Parse(json);
        var total = Zero;
        if (!document.RootElement.TryGetProperty("model_stats", out var stats) || stats.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException("the statistics response has no 'model_stats' array");
        }

        foreach (var entry in stats.EnumerateArray())
        {
            if (String(entry, "name") != model || (!string.IsNullOrEmpty(version) && String(entry, "version") != version))
            {
                continue;
            }

            var infer = entry.TryGetProperty("inference_stats", out var i) ? i : default;
            total = total.Plus(new ServerStatistics(
                Number(entry, "inference_count"), Number(entry, "execution_count"),
                Duration(infer, "success"), Duration(infer, "fail"), Duration(infer, "queue"),
                Duration(infer, "compute_input"), Duration(infer, "compute_infer"), Duration(infer, "compute_output")));
        }

        return total;
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long Number(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.Number => value.GetInt64(),
                JsonValueKind.String when long.TryParse(value.GetString(), out var parsed) => parsed,   // proto3 JSON writes uint64 as strings
                _ => 0,
            }
            : 0;

    private static StatDuration Duration(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value)
            ? new StatDuration(Number(value, "count"), Number(value, "ns"))
            : default;
}
