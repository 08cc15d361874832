using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sluice.Onnx.Build;

/// <summary>Memory settings for serving the engine: TensorRT's workspace and ONNX Runtime's arena.</summary>
public sealed record EngineMemoryOptions
{
    /// <summary>TensorRT's <c>trt_max_workspace_size</c> in bytes.</summary>
    public long TensorRtMaxWorkspaceBytes { get; init; } = 1L << 30;

    /// <summary>ONNX Runtime's arena extend strategy: <c>kNextPowerOfTwo</c> or <c>kSameAsRequested</c>.</summary>
    public string ArenaExtendStrategy { get; init; } = "kNextPowerOfTwo";

    /// <summary>Upper limit of the device arena in bytes (CUDA's <c>gpu_mem_limit</c>); null is unlimited.</summary>
    public long? ArenaMaxBytes { get; init; }
}

/// <summary>The calibration an INT8 engine was built with.</summary>
public sealed record CalibrationSummary(string Method, double? Percentile, int Samples, string Table, bool Reused);

/// <summary>
/// <c>manifest.json</c> next to an engine: where it came from, how it was built, how accurate it is, which shapes it
/// accepts, and the hardware it was built for (the engine refuses other hardware unless overridden).
/// </summary>
public sealed record EngineManifest
{
    public const string FileName = "manifest.json";

    public int FormatVersion { get; init; } = 1;

    public required string ModelName { get; init; }

    public required long Version { get; init; }

    public required DateTimeOffset CreatedUtc { get; init; }

    /// <summary>File name (no folders) of the source model.</summary>
    public required string SourceFile { get; init; }

    public required string SourceSha256 { get; init; }

    /// <summary>The engine file in the version folder (<c>model.onnx</c>).</summary>
    public required string EngineFile { get; init; }

    public required string EngineSha256 { get; init; }

    public long EngineBytes { get; init; }

    /// <summary>The same engine in ONNX Runtime's ORT format, when written.</summary>
    public string? OrtFormatFile { get; init; }

    /// <summary><c>fp32</c>, <c>fp16</c>, <c>int8-dynamic</c> or <c>int8-qdq</c>.</summary>
    public required string Precision { get; init; }

    /// <summary>The graph optimization level the engine was saved at.</summary>
    public required string OptimizationLevel { get; init; }

    /// <summary>Operator types kept in FP32 in an FP16 engine.</summary>
    public IReadOnlyList<string>? Fp32OpTypes { get; init; }

    public CalibrationSummary? Calibration { get; init; }

    public required AccuracyReport Accuracy { get; init; }

    public ShapeProfile ShapeProfile { get; init; } = ShapeProfile.Empty;

    /// <summary>TensorRT provider options derived from the profile and memory settings.</summary>
    public IReadOnlyDictionary<string, string> TensorRtOptions { get; init; } = new Dictionary<string, string>();

    public EngineMemoryOptions Memory { get; init; } = new();

    public required string OnnxRuntimeVersion { get; init; }

    public required string ExecutionProvider { get; init; }

    public required HardwareFingerprint Hardware { get; init; }

    /// <summary>Peak throughput measured right after the build (<c>--calibrate-peak</c>), inferences per second.</summary>
    public double? PeakInferencesPerSecond { get; init; }

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Reads <c>manifest.json</c> from an engine's version folder.</summary>
    /// <exception cref="FileNotFoundException">The folder has no manifest (not built by <c>sluice build</c>).</exception>
    /// <exception cref="InvalidDataException">The manifest is not valid.</exception>
    public static EngineManifest Read(string versionDirectory)
    {
        var path = Path.Combine(versionDirectory, FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No {FileName} in the engine folder '{Path.GetFileName(Path.TrimEndingDirectorySeparator(versionDirectory))}'.");
        }

        try
        {
            return JsonSerializer.Deserialize<EngineManifest>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{FileName} is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{FileName} is not a valid engine manifest: {e.Message}", e);
        }
    }

    /// <summary>True when <paramref name="versionDirectory"/> has a manifest.</summary>
    public static bool Exists(string versionDirectory) => File.Exists(Path.Combine(versionDirectory, FileName));

    public void Write(string versionDirectory) =>
        File.WriteAllText(Path.Combine(versionDirectory, FileName), JsonSerializer.Serialize(this, Json));
}
