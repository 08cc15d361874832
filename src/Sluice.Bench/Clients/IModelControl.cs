using Sluice.Bench.Measurement;
using Sluice.Bench.Workload;

namespace Sluice.Bench.Clients;

/// <summary>The control side of a target: model metadata (to synthesize inputs) and statistics (for the server-side breakdown).</summary>
public interface IModelControl
{
    /// <summary>The model's metadata. Throws <see cref="BenchException"/> naming the model when the target does not know it.</summary>
    Task<ModelDescription> GetMetadataAsync(string model, string? version, CancellationToken cancellationToken);

    /// <summary>The model's cumulative statistics, or null when the target has no statistics endpoint.</summary>
    Task<ServerStatistics?> GetStatisticsAsync(string model, string? version, CancellationToken cancellationToken);
}

/// <summary>A failure of the benchmark itself (target unreachable, model unknown, bad input file), with a message for the user.</summary>
public sealed class BenchException(string message) : Exception(message);
