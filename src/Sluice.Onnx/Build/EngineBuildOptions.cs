namespace Sluice.Onnx.Build;

/// <summary>The numeric precision of a built engine.</summary>
public enum EnginePrecision
{
    /// <summary>FP32, graph-optimized.</summary>
    Fp32,
    /// <summary>FP16 weights and compute, FP32 kept for the configured operator types.</summary>
    Fp16,
    /// <summary>INT8 weights, activations quantized at run time (no calibration).</summary>
    Int8Dynamic,
    /// <summary>INT8 weights and activations in the QDQ form, activation ranges calibrated on representative data.</summary>
    Int8Qdq,
}

/// <summary>What <see cref="EngineBuilder"/> builds and from what.</summary>
public sealed class EngineBuildOptions
{
    /// <summary>The source ONNX model.</summary>
    public required string ModelPath { get; set; }

    /// <summary>The model repository the new version goes into.</summary>
    public required string RepositoryPath { get; set; }

    /// <summary>The model's name in the repository.</summary>
    public required string ModelName { get; set; }

    public EnginePrecision Precision { get; set; } = EnginePrecision.Fp32;

    /// <summary>ONNX Runtime graph optimization level the engine is saved at: disabled, basic, extended or all.</summary>
    /// <value>The default value is <c>all</c> (capped at <c>basic</c> for GPU targets and FP16 engines, whose later
    /// optimizations are provider-specific).</value>
    public string OptimizationLevel { get; set; } = "all";

    /// <summary>The execution provider the engine is for: cpu, cuda or tensorrt.</summary>
    public string ExecutionProvider { get; set; } = "cpu";

    /// <summary>Also write the engine in ONNX Runtime's ORT format (<c>model.ort</c>).</summary>
    public bool WriteOrtFormat { get; set; }

    public CalibrationMethod CalibrationMethod { get; set; } = CalibrationMethod.MinMax;

    /// <summary>The percentile of absolute values the percentile method keeps.</summary>
    /// <value>The default value is 99.999.</value>
    public double Percentile { get; set; } = 99.999;

    /// <summary>A calibration table to reuse; when the file does not exist yet the measured table is written there.</summary>
    public string? CalibrationTablePath { get; set; }

    /// <summary>Folder of representative data (.npy or KServe v2 JSON); null makes synthetic data from the model's inputs.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>Calibration samples.</summary>
    /// <value>The default value is 16.</value>
    public int CalibrationSamples { get; set; } = 16;

    /// <summary>Held-out samples the accuracy gate compares on.</summary>
    /// <value>The default value is 4.</value>
    public int GateSamples { get; set; } = 4;

    /// <summary>Rows per sample (batch size) of synthetic data and of .npy rows.</summary>
    /// <value>The default value is 4.</value>
    public int SampleBatch { get; set; } = 4;

    /// <summary>Size of other dynamic dimensions (sequence length) of synthetic data, unless the shape profile gives an opt shape.</summary>
    /// <value>The default value is 64.</value>
    public int SampleSequence { get; set; } = 64;

    /// <summary>Seed of the synthetic data.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>The gate's metric; null picks cosine for float outputs with a last dim over 1.</summary>
    public GateMetric? GateMetric { get; set; }

    /// <summary>Smallest acceptable gate value.</summary>
    /// <value>The default value is 0.99.</value>
    public double GateThreshold { get; set; } = 0.99;

    /// <summary>
    /// INT8 builds: how many of the most sensitive nodes may fall back to FP32 compute (keeping INT8 weights) when the fully
    /// quantized model misses the gate threshold on the calibration samples; null allows 10% of the quantizable nodes, 0 turns
    /// fallback off.
    /// </summary>
    public int? MaxFallbackNodes { get; set; }

    /// <summary>Operator types kept in FP32 by an FP16 build; null uses <see cref="Fp16Converter.DefaultFp32OpTypes"/>.</summary>
    public IReadOnlyList<string>? Fp32OpTypes { get; set; }

    public ShapeProfile ShapeProfile { get; set; } = ShapeProfile.Empty;

    public EngineMemoryOptions Memory { get; set; } = new();

    /// <summary>Measure peak throughput after the build and store it in the manifest.</summary>
    public bool CalibratePeak { get; set; }

    /// <summary>Checks the options; returns every problem at once, each naming its flag.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!File.Exists(ModelPath))
        {
            errors.Add($"MODEL '{Path.GetFileName(ModelPath)}' does not exist.");
        }

        if (string.IsNullOrWhiteSpace(ModelName) || ModelName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || ModelName.StartsWith('.'))
        {
            errors.Add($"--name '{ModelName}' is not a valid model name (a folder name, not starting with '.').");
        }

        if (CalibrationSamples < 1)
        {
            errors.Add($"--samples must be at least 1, got {CalibrationSamples}.");
        }

        if (GateSamples < 1)
        {
            errors.Add($"--gate-samples must be at least 1, got {GateSamples}.");
        }

        if (Percentile is <= 0 or > 100)
        {
            errors.Add($"--percentile must be in (0, 100], got {Percentile}.");
        }

        if (GateThreshold is < -1 or > 1 || double.IsNaN(GateThreshold))
        {
            errors.Add($"--gate-threshold must be between -1 and 1, got {GateThreshold}.");
        }

        if (ExecutionProvider is not ("cpu" or "cuda" or "tensorrt"))
        {
            errors.Add($"--execution-provider '{ExecutionProvider}' is not one of cpu, cuda, tensorrt.");
        }

        if (OptimizationLevel.ToLowerInvariant() is not ("disabled" or "basic" or "extended" or "all"))
        {
            errors.Add($"--optimization-level '{OptimizationLevel}' is not one of disabled, basic, extended, all.");
        }

        if (DataDirectory is not null && !Directory.Exists(DataDirectory))
        {
            errors.Add($"--data folder '{Path.GetFileName(Path.TrimEndingDirectorySeparator(DataDirectory))}' does not exist.");
        }

        if (Memory.ArenaExtendStrategy is not ("kNextPowerOfTwo" or "kSameAsRequested"))
        {
            errors.Add($"--arena-extend-strategy '{Memory.ArenaExtendStrategy}' is not one of kNextPowerOfTwo, kSameAsRequested.");
        }

        return errors;
    }

    /// <summary>The manifest's name of a precision.</summary>
    public static string PrecisionName(EnginePrecision precision) => precision switch
    {
        EnginePrecision.Fp16 => "fp16",
        EnginePrecision.Int8Dynamic => "int8-dynamic",
        EnginePrecision.Int8Qdq => "int8-qdq",
        _ => "fp32",
    };

    /// <summary>Parses fp32, fp16, int8 (= int8-qdq), int8-qdq or int8-dynamic.</summary>
    public static EnginePrecision ParsePrecision(string name) => name.Trim().ToLowerInvariant() switch
    {
        "fp32" => EnginePrecision.Fp32,
        "fp16" => EnginePrecision.Fp16,
        "int8" or "int8-qdq" or "int8-static" => EnginePrecision.Int8Qdq,
        "int8-dynamic" => EnginePrecision.Int8Dynamic,
        _ => throw new ArgumentException($"--precision '{name}' is not one of fp32, fp16, int8, int8-dynamic."),
    };
}
