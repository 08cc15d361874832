using System.Text.Json;

namespace Sluice.Onnx.Build;

/// <summary>One timed stage of a build.</summary>
public sealed record BuildStage(string Name, double Seconds, string? Detail);

/// <summary><c>build_report.json</c>: written by every build, passed or failed.</summary>
public sealed record BuildReport
{
    public const string FileName = "build_report.json";

    public required string ModelName { get; init; }

    /// <summary>The version folder written; null when the build failed.</summary>
    public long? Version { get; init; }

    /// <summary><c>passed</c> or <c>failed</c>.</summary>
    public required string Status { get; init; }

    /// <summary>Why the build failed, in one sentence.</summary>
    public string? Failure { get; init; }

    public required string Precision { get; init; }

    public required string SourceSha256 { get; init; }

    public long SourceBytes { get; init; }

    public long EngineBytes { get; init; }

    /// <summary>Engine size / source size.</summary>
    public double SizeRatio { get; init; }

    public GraphOptimizationSummary? Optimization { get; init; }

    /// <summary>Nodes rewritten by the precision step (quantized MatMuls, FP16 nodes, inserted casts...).</summary>
    public IReadOnlyDictionary<string, int> PrecisionChanges { get; init; } = new Dictionary<string, int>();

    public CalibrationSummary? Calibration { get; init; }

    public AccuracyReport? Accuracy { get; init; }

    /// <summary>Where the samples came from: a data folder or synthetic.</summary>
    public required string Data { get; init; }

    public IReadOnlyList<BuildStage> Stages { get; init; } = [];

    public IReadOnlyList<string> Notes { get; init; } = [];

    public void Write(string directory) =>
        File.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(this, EngineManifest.Json));

    public static BuildReport Read(string directory) =>
        JsonSerializer.Deserialize<BuildReport>(File.ReadAllText(Path.Combine(directory, FileName)), EngineManifest.Json)
        ?? throw new InvalidDataException($"{FileName} is empty.");
}

/// <summary>The outcome of <see cref="EngineBuilder.Build"/>.</summary>
/// <param name="Directory">The new version folder, or the folder holding the failed build's report.</param>
public sealed record EngineBuildResult(bool Passed, string Directory, BuildReport Report, EngineManifest? Manifest);
