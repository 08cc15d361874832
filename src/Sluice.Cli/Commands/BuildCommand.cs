using System.CommandLine;
using System.Globalization;
using Sluice.Onnx.Build;

namespace Sluice.Cli.Commands;

/// <summary>
/// <c>sluice build</c>: compiles an ONNX model offline into an engine for this machine (graph optimization, FP16 or
/// calibrated INT8, accuracy gate, shape profile, hardware fingerprint) and writes it as a new version of a repository model.
/// </summary>
public static class BuildCommand
{
    /// <summary>Exit code of a build that failed its accuracy gate or could not run.</summary>
    public const int BuildFailed = 1;

    public static Command Create()
    {
        var defaults = new EngineBuildOptions { ModelPath = "", RepositoryPath = "", ModelName = "" };
        var model = new Argument<string>("MODEL") { Description = "The ONNX model to build (e.g. model.onnx)." };
        var repository = new Option<string>("--repository")
        {
            Description = "Model repository the engine is written into, as <repo>/<name>/<next version>/ with model.onnx, manifest.json and build_report.json.",
            HelpName = "DIR",
            Required = true,
        };
        var name = new Option<string?>("--name")
        {
            Description = "Model name in the repository. Default: the source's model folder for <repo>/<name>/<version>/model.onnx, else the file name.",
            HelpName = "NAME",
        };
        var precision = new Option<string>("--precision")
        {
            Description = "fp32: graph-optimized FP32. fp16: FP16 weights and compute, FP32 kept for --fp32-ops (best on GPUs). " +
                          "int8: static QDQ INT8 calibrated on representative data (also what TensorRT consumes). " +
                          "int8-dynamic: INT8 weights, activations quantized at run time (no calibration).",
            DefaultValueFactory = _ => "fp32",
        };
        precision.AcceptOnlyFromAmong("fp32", "fp16", "int8", "int8-qdq", "int8-dynamic");
        var calibration = new Option<string>("--calibration")
        {
            Description = "INT8 activation ranges: minmax (observed range), percentile (clip to --percentile of |x|) or entropy (TensorRT's KL divergence).",
            DefaultValueFactory = _ => "minmax",
        };
        calibration.AcceptOnlyFromAmong("minmax", "percentile", "entropy");
        var percentile = new Option<double>("--percentile")
        {
            Description = "Percentile of absolute activation values kept by --calibration percentile.",
            DefaultValueFactory = _ => defaults.Percentile,
        };
        var data = new Option<string?>("--data")
        {
            Description = "Representative data: a folder of <input>.npy files (first dim = rows), of sub-folders with one sample's .npy files, " +
                          "or of KServe v2 JSON request bodies. Default: synthetic data from the model's inputs (random token ids, masks of ones).",
            HelpName = "DIR",
        };
        var samples = new Option<int>("--samples")
        {
            Description = "Calibration samples to use.",
            DefaultValueFactory = _ => defaults.CalibrationSamples,
            HelpName = "N",
        };
        var gateSamples = new Option<int>("--gate-samples")
        {
            Description = "Held-out samples the accuracy gate compares on (the last ones of --data).",
            DefaultValueFactory = _ => defaults.GateSamples,
            HelpName = "N",
        };
        var sampleBatch = new Option<int>("--sample-batch")
        {
            Description = "Rows per sample for synthetic data and .npy rows.",
            DefaultValueFactory = _ => defaults.SampleBatch,
            HelpName = "N",
        };
        var sampleSequence = new Option<int>("--sample-seq")
        {
            Description = "Size of the other dynamic dims (sequence length) of synthetic data, unless --shapes gives an opt shape.",
            DefaultValueFactory = _ => defaults.SampleSequence,
            HelpName = "N",
        };
        var gateMetric = new Option<string>("--gate-metric")
        {
            Description = "cosine: cosine similarity of embeddings (rank-3 outputs mean-pooled over the sequence). top1: arg-max agreement (classifiers); max abs error is reported too.",
            DefaultValueFactory = _ => "cosine",
        };
        gateMetric.AcceptOnlyFromAmong("cosine", "top1");
        var gateThreshold = new Option<double>("--gate-threshold")
        {
            Description = "Smallest acceptable gate value; below it the build fails (exit 1) and writes only its report.",
            DefaultValueFactory = _ => defaults.GateThreshold,
        };
        var maxFallback = new Option<int?>("--max-fallback-nodes")
        {
            Description = "INT8: how many of the most sensitive nodes may fall back to FP32 compute (keeping INT8 weights) when the fully quantized model misses the threshold on the calibration samples. Default: 10% of the quantizable nodes; 0 turns fallback off.",
            HelpName = "N",
        };
        var shapes = new Option<string[]>("--shapes")
        {
            Description = "Shape profile per dynamic input, min,opt,max as trtexec: input_ids:1x8,8x128,32x256 (repeat or separate inputs with ';'). " +
                          "Requests outside it are rejected; it also sets the TensorRT profile and the synthetic data shape (opt).",
            HelpName = "NAME:MIN,OPT,MAX",
            Arity = ArgumentArity.ZeroOrMore,
            AllowMultipleArgumentsPerToken = true,
        };
        var level = new Option<string>("--optimization-level")
        {
            Description = "ONNX Runtime graph optimization level the engine is saved at (FP16 and GPU engines are saved at a provider-neutral level).",
            DefaultValueFactory = _ => defaults.OptimizationLevel,
        };
        level.AcceptOnlyFromAmong("disabled", "basic", "extended", "all");
        var provider = new Option<string>("--execution-provider")
        {
            Description = "Execution provider the engine is built for.",
            DefaultValueFactory = _ => defaults.ExecutionProvider,
        };
        provider.AcceptOnlyFromAmong("cpu", "cuda", "tensorrt");
        var ortFormat = new Option<bool>("--ort-format") { Description = "Also write the engine in ONNX Runtime's ORT format (model.ort)." };
        var calibrationTable = new Option<string?>("--calibration-table")
        {
            Description = "INT8: reuse this calibration table if it exists (skipping calibration); otherwise write the measured one there.",
            HelpName = "FILE",
        };
        var fp32Ops = new Option<string?>("--fp32-ops")
        {
            Description = $"FP16: operator types kept in FP32, comma-separated. Default: {string.Join(",", Fp16Converter.DefaultFp32OpTypes)}.",
            HelpName = "OPS",
        };
        var workspace = new Option<long>("--trt-workspace-bytes")
        {
            Description = "TensorRT's trt_max_workspace_size for this engine, stored in the manifest.",
            DefaultValueFactory = _ => defaults.Memory.TensorRtMaxWorkspaceBytes,
            HelpName = "BYTES",
        };
        var arenaStrategy = new Option<string>("--arena-extend-strategy")
        {
            Description = "ONNX Runtime arena extend strategy stored in the manifest.",
            DefaultValueFactory = _ => defaults.Memory.ArenaExtendStrategy,
        };
        arenaStrategy.AcceptOnlyFromAmong("kNextPowerOfTwo", "kSameAsRequested");
        var arenaMax = new Option<long?>("--arena-max-bytes")
        {
            Description = "Upper limit of the device memory arena (gpu_mem_limit) stored in the manifest.",
            HelpName = "BYTES",
        };
        var calibratePeak = new Option<bool>("--calibrate-peak")
        {
            Description = "After the build, measure the engine's peak throughput in-process on one held-out sample (about 2 s) and store it in the manifest. " +
                          "(Not the full server-side bench calibration, which is not yet available.)",
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic data.", DefaultValueFactory = _ => defaults.Seed };

        var command = new Command("build", "Compile an ONNX model into an optimized, accuracy-checked engine for this machine, written as a new model version.")
        {
            model, repository, name, precision, calibration, percentile, data, samples, gateSamples, sampleBatch, sampleSequence, gateMetric,
            gateThreshold, maxFallback, shapes, level, provider, ortFormat, calibrationTable, fp32Ops, workspace, arenaStrategy, arenaMax,
            calibratePeak, seed,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            var modelPath = Path.GetFullPath(parse.GetValue(model)!);
            EngineBuildOptions options;
            try
            {
                options = new EngineBuildOptions
                {
                    ModelPath = modelPath,
                    RepositoryPath = Path.GetFullPath(parse.GetValue(repository)!),
                    ModelName = parse.GetValue(name) ?? DefaultName(modelPath),
                    Precision = EngineBuildOptions.ParsePrecision(parse.GetValue(precision)!),
                    CalibrationMethod = CalibrationTable.ParseMethod(parse.GetValue(calibration)!),
                    Percentile = parse.GetValue(percentile),
                    DataDirectory = parse.GetValue(data) is { } d ? Path.GetFullPath(d) : null,
                    CalibrationSamples = parse.GetValue(samples),
                    GateSamples = parse.GetValue(gateSamples),
                    SampleBatch = parse.GetValue(sampleBatch),
                    SampleSequence = parse.GetValue(sampleSequence),
                    GateMetric = AccuracyGate.ParseMetric(parse.GetValue(gateMetric)!),
                    GateThreshold = parse.GetValue(gateThreshold),
                    MaxFallbackNodes = parse.GetValue(maxFallback),
                    ShapeProfile = ShapeProfile.Parse(parse.GetValue(shapes) ?? []),
                    OptimizationLevel = parse.GetValue(level)!,
                    ExecutionProvider = parse.GetValue(provider)!,
                    WriteOrtFormat = parse.GetValue(ortFormat),
                    CalibrationTablePath = parse.GetValue(calibrationTable) is { } t ? Path.GetFullPath(t) : null,
                    Fp32OpTypes = parse.GetValue(fp32Ops) is { } ops ? ops.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null,
                    Memory = new EngineMemoryOptions
                    {
                        TensorRtMaxWorkspaceBytes = parse.GetValue(workspace),
                        ArenaExtendStrategy = parse.GetValue(arenaStrategy)!,
                        ArenaMaxBytes = parse.GetValue(arenaMax),
                    },
                    CalibratePeak = parse.GetValue(calibratePeak),
                    Seed = parse.GetValue(seed),
                };
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
                await Console.Error.WriteLineAsync($"sluice build: error: {e.Message} (see 'sluice build --help')").ConfigureAwait(false);
                return Program.UsageError;
            }

            var errors = options.Validate();
            if (errors.Count > 0)
            {
                await Console.Error.WriteLineAsync($"sluice build: error: {string.Join(" ", errors)} (see 'sluice build --help')").ConfigureAwait(false);
                return Program.UsageError;
            }

            EngineBuildResult result;
            try
            {
                result = await Task.Run(() => EngineBuilder.Build(options, line => Console.Error.WriteLine($"sluice build: {line}")), cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException
                                          or FormatException or ArgumentException or Google.Protobuf.InvalidProtocolBufferException
                                          or System.Text.Json.JsonException
                                          or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or Sluice.Core.Inference.InferenceException)
            {
                await Console.Error.WriteLineAsync($"sluice build: error: {e.Message}").ConfigureAwait(false);
                return BuildFailed;
            }

            var report = result.Report;
            var accuracy = report.Accuracy!;
            Console.WriteLine(result.Passed
                ? $"built {report.ModelName} version {report.Version}: {report.Precision}, {report.EngineBytes / 1e6:F1} MB ({report.SizeRatio:P0} of the source), " +
                  $"{accuracy.Metric} {accuracy.Value.ToString("F5", CultureInfo.InvariantCulture)} >= {accuracy.Threshold.ToString(CultureInfo.InvariantCulture)}, " +
                  $"{report.Optimization?.NodesBefore} -> {report.Optimization?.NodesAfter} nodes"
                : $"build FAILED: {report.Failure}");
            Console.WriteLine($"{(result.Passed ? "engine" : "report")}: {result.Directory}");
            return result.Passed ? 0 : BuildFailed;
        });
        return command;
    }

    /// <summary><c>&lt;repo&gt;/&lt;name&gt;/&lt;version&gt;/model.onnx</c> gives <c>name</c>; any other path the file name without extension.</summary>
    internal static string DefaultName(string modelPath)
    {
        var versionDirectory = Path.GetDirectoryName(modelPath);
        if (versionDirectory is not null && long.TryParse(Path.GetFileName(versionDirectory), NumberStyles.None, CultureInfo.InvariantCulture, out _)
            && Path.GetFileName(Path.GetDirectoryName(versionDirectory)) is { Length: > 0 } modelName)
        {
            return modelName;
        }

        return Path.GetFileNameWithoutExtension(modelPath);
    }
}
