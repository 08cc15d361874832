using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Sluice.Onnx.Graph.Proto;
using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Build;

/// <summary>
/// <c>sluice build</c>'s pipeline: precision conversion (FP16, dynamic or calibrated QDQ INT8), offline graph optimization,
/// the accuracy gate on held-out samples, then a new version folder in the repository with the engine, its manifest and the
/// build report. A build that fails the gate writes only its report, into a folder the repository ignores.
/// </summary>
public static partial class EngineBuilder
{
    /// <summary>The engine's file name in the version folder.</summary>
    public const string EngineFileName = "model.onnx";

    /// <summary>The ORT-format copy's file name.</summary>
    public const string OrtFileName = "model.ort";

    /// <summary>The calibration table's file name in the version folder.</summary>
    public const string CalibrationFileName = "calibration_table.json";

    public static EngineBuildResult Build(EngineBuildOptions options, Action<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors));
        }

        void Say(string line) => progress?.Invoke(line);
        var stages = new List<BuildStage>();
        var notes = new List<string>();
        var clock = Stopwatch.StartNew();
        void Stage(string name, string? detail = null)
        {
            stages.Add(new BuildStage(name, Math.Round(clock.Elapsed.TotalSeconds, 3), detail));
            Say($"[{name}] {detail ?? "done"} ({clock.Elapsed.TotalSeconds:F1}s)");
            clock.Restart();
        }

        var modelDirectory = Path.Combine(options.RepositoryPath, options.ModelName);
        Directory.CreateDirectory(modelDirectory);
        var stage = Path.Combine(modelDirectory, $".build-{Guid.NewGuid():N}");
        Directory.CreateDirectory(stage);
        var sourceSha = "";
        try
        {
            var source = OnnxModelFile.Read(options.ModelPath);
            sourceSha = OnnxModelFile.Sha256(options.ModelPath);
            var sourceBytes = new FileInfo(options.ModelPath).Length;
            Stage("read", $"{Path.GetFileName(options.ModelPath)}: {source.Graph.Node.Count} nodes, sha256 {sourceSha[..12]}");

            var (calibrationSamples, heldOut, dataNote) = Samples(options, source, notes);
            Stage("data", $"{calibrationSamples.Count} calibration and {heldOut.Count} held-out samples ({dataNote})");

            var work = source.Clone();
            var changes = new SortedDictionary<string, int>(StringComparer.Ordinal);
            CalibrationSummary? calibration = null;
            switch (options.Precision)
            {
                case EnginePrecision.Fp16:
                    var (fp16Nodes, casts) = Fp16Converter.Convert(work, options.Fp32OpTypes);
                    changes["fp16_nodes"] = fp16Nodes;
                    changes["casts_added"] = casts;
                    Stage("fp16", $"{fp16Nodes} nodes in FP16, {casts} casts at FP16/FP32 boundaries");
                    break;
                case EnginePrecision.Int8Dynamic:
                    work = QuantizeWithFallback(options, source, calibrationSamples, stage, changes, notes, Say,
                        DynamicQuantizer.Candidates(source), (model, excluded) => DynamicQuantizer.Quantize(model, excluded), "dynamic_quantize_matmul");
                    Stage("int8-dynamic", $"{changes["dynamic_quantize_matmul"]} MatMuls -> DynamicQuantizeMatMul, {changes.GetValueOrDefault("fp32_fallback")} fell back to FP32 compute (INT8 weights), {changes["int8_embedding_tables"]} embedding tables INT8");
                    break;
                case EnginePrecision.Int8Qdq:
                    var table = CalibrationFor(options, work, calibrationSamples, sourceSha, stage, Say, out var reused);
                    calibration = new CalibrationSummary(table.Method, table.Percentile, table.Samples, CalibrationFileName, reused);
                    Stage("calibrate", $"{table.Ranges.Count} activation ranges, {table.Method}{(reused ? " (reused table)" : "")}");
                    work = QuantizeWithFallback(options, source, calibrationSamples, stage, changes, notes, Say,
                        QdqQuantizer.Candidates(source), (model, excluded) => QdqQuantizer.Quantize(model, table, excluded), "qdq_nodes");
                    Stage("int8-qdq", $"{changes["qdq_nodes"]} MatMul/Gemm nodes quantized (QDQ, per-channel weights), {changes.GetValueOrDefault("fp32_fallback")} fell back to FP32 compute (INT8 weights), {changes["int8_embedding_tables"]} embedding tables INT8");
                    break;
            }

            var converted = Path.Combine(stage, "converted.onnx");
            OnnxModelFile.Write(work, converted);
            var level = EffectiveLevel(options, notes);
            var enginePath = Path.Combine(stage, EngineFileName);
            GraphOptimizationSummary optimization;
            if (level == "disabled")
            {
                File.Copy(converted, enginePath);   // saved as converted: no CPU session touches a model meant for another provider
                optimization = GraphOptimizer.Summarize(level, OnnxModelFile.CountOps(source), OnnxModelFile.CountOps(work));
            }
            else
            {
                optimization = GraphOptimizer.Optimize(converted, enginePath, level);
                optimization = GraphOptimizer.Summarize(level, OnnxModelFile.CountOps(source), optimization.OpsAfter);
            }

            string? ortFile = null;
            if (options.WriteOrtFormat)
            {
                GraphOptimizer.Optimize(converted, Path.Combine(stage, OrtFileName), level, ortFormat: true);
                ortFile = OrtFileName;
            }

            File.Delete(converted);
            Stage("optimize", $"level {level}: {optimization.NodesBefore} -> {optimization.NodesAfter} nodes" +
                (optimization.FusedOps.Count > 0 ? $"; new ops {string.Join(", ", optimization.FusedOps.Select(f => $"{f.Key} x{f.Value}"))}" : ""));

            var metric = options.GateMetric ?? GateMetric.Cosine;
            var accuracy = AccuracyGate.Evaluate(options.ModelPath, enginePath, heldOut, metric, options.GateThreshold, Say);
            Stage("gate", $"{accuracy.Metric} {accuracy.Value:F5} (threshold {accuracy.Threshold}) -> {(accuracy.Passed ? "PASSED" : "FAILED")}");

            var engineBytes = new FileInfo(enginePath).Length;
            var report = new BuildReport
            {
                ModelName = options.ModelName,
                Status = accuracy.Passed ? "passed" : "failed",
                Failure = accuracy.Passed ? null
                    : $"accuracy gate failed: {accuracy.Metric} {accuracy.Value.ToString("F5", CultureInfo.InvariantCulture)} < {options.GateThreshold.ToString(CultureInfo.InvariantCulture)} on {accuracy.Samples} held-out samples",
                Precision = EngineBuildOptions.PrecisionName(options.Precision),
                SourceSha256 = sourceSha,
                SourceBytes = sourceBytes,
                EngineBytes = engineBytes,
                SizeRatio = Math.Round((double)engineBytes / sourceBytes, 4),
                Optimization = optimization,
                PrecisionChanges = changes,
                Calibration = calibration,
                Accuracy = accuracy,
                Data = dataNote,
                Stages = stages,
                Notes = notes,
            };

            if (!accuracy.Passed)
            {
                var failed = Path.Combine(modelDirectory, $".failed-build-{DateTime.UtcNow:yyyyMMddTHHmmssfff}");
                Directory.CreateDirectory(failed);
                report.Write(failed);
                if (calibration is not null)
                {
                    File.Copy(Path.Combine(stage, CalibrationFileName), Path.Combine(failed, CalibrationFileName), overwrite: true);
                }

                Say($"build FAILED: {report.Failure}; report in {failed}");
                return new EngineBuildResult(false, failed, report, null);
            }

            double? peak = null;
            if (options.CalibratePeak)
            {
                peak = MeasurePeak(enginePath, heldOut[0]);
                Stage("peak", $"{peak:F1} inferences/s on one held-out sample");
            }

            var version = NextVersion(modelDirectory);
            report = report with { Version = version, Stages = stages };
            var manifest = new EngineManifest
            {
                ModelName = options.ModelName,
                Version = version,
                CreatedUtc = DateTimeOffset.UtcNow,
                SourceFile = Path.GetFileName(options.ModelPath),
                SourceSha256 = sourceSha,
                EngineFile = EngineFileName,
                EngineSha256 = OnnxModelFile.Sha256(enginePath),
                EngineBytes = engineBytes,
                OrtFormatFile = ortFile,
                Precision = report.Precision,
                OptimizationLevel = level,
                Fp32OpTypes = options.Precision == EnginePrecision.Fp16 ? options.Fp32OpTypes ?? Fp16Converter.DefaultFp32OpTypes : null,
                Calibration = calibration,
                Accuracy = accuracy,
                ShapeProfile = options.ShapeProfile,
                TensorRtOptions = TensorRtOptions(options),
                Memory = options.Memory,
                OnnxRuntimeVersion = OnnxRuntimeInfo.Version,
                ExecutionProvider = options.ExecutionProvider,
                Hardware = HardwareFingerprint.Current(),
                PeakInferencesPerSecond = peak,
            };
            manifest.Write(stage);
            report.Write(stage);
            CopyConfig(options, modelDirectory);
            var versionDirectory = Path.Combine(modelDirectory, version.ToString(CultureInfo.InvariantCulture));
            Directory.Move(stage, versionDirectory);   // the version appears complete or not at all
            Say($"build passed: {options.ModelName} version {version} ({report.Precision}, {engineBytes / 1e6:F1} MB, {accuracy.Metric} {accuracy.Value:F5})");
            return new EngineBuildResult(true, versionDirectory, report, manifest);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Every build leaves a report, also one that could not finish.
            var failed = Path.Combine(modelDirectory, $".failed-build-{DateTime.UtcNow:yyyyMMddTHHmmssfff}");
            Directory.CreateDirectory(failed);
            new BuildReport
            {
                ModelName = options.ModelName,
                Status = "failed",
                Failure = $"failed after the '{stages.LastOrDefault()?.Name ?? "start"}' stage: {e.Message}",
                Precision = EngineBuildOptions.PrecisionName(options.Precision),
                SourceSha256 = sourceSha,
                Data = options.DataDirectory is null ? "synthetic" : "data folder",
                Stages = stages,
                Notes = notes,
            }.Write(failed);
            Say($"build FAILED: {e.Message}; report in {failed}");
            throw;
        }
        finally
        {
            if (Directory.Exists(stage))
            {
                Directory.Delete(stage, recursive: true);
            }
        }
    }

    /// <summary>
    /// Quantizes a fresh copy of <paramref name="source"/>; when the result misses the gate threshold on the calibration
    /// samples, measures each candidate node's sensitivity (only that node quantized) and keeps the most sensitive ones in
    /// FP32, one more at a time, until the threshold is met or the fallback budget is spent.
    /// </summary>
    private static ModelProto QuantizeWithFallback(EngineBuildOptions options, ModelProto source, List<InputSample> calibrationSamples,
        string stage, SortedDictionary<string, int> changes, List<string> notes, Action<string> say, List<string> candidates,
        Func<ModelProto, IReadOnlySet<string>, int> quantize, string countKey)
    {
        var embeddingTables = 0;
        ModelProto Make(IReadOnlySet<string> excludedNodes, out int count)
        {
            var model = source.Clone();
            count = quantize(model, excludedNodes);
            embeddingTables = WeightQuantization.QuantizeEmbeddingTables(model);
            return model;
        }

        var excluded = new HashSet<string>(StringComparer.Ordinal);
        var result = Make(excluded, out var quantized);
        var budget = Math.Min(candidates.Count, options.MaxFallbackNodes ?? (int)Math.Ceiling(candidates.Count * 0.10));
        if (budget > 0)
        {
            var probe = calibrationSamples.Take(2).ToList();
            var reference = GateReference.Measure(options.ModelPath, probe);
            var oneSample = new GateReference(reference.Samples.Take(1).ToList(), reference.Outputs.Take(1).ToList());   // enough to rank nodes
            var metric = options.GateMetric ?? GateMetric.Cosine;
            double Score(ModelProto model, GateReference? against = null)
            {
                var path = Path.Combine(stage, "probe.onnx");
                OnnxModelFile.Write(model, path);
                try
                {
                    return AccuracyGate.Evaluate(against ?? reference, path, metric, options.GateThreshold).Value;
                }
                finally
                {
                    File.Delete(path);
                }
            }

            // Calibration samples flatter the model a little: aim a quarter of the way from the threshold to a perfect score.
            var target = options.GateThreshold + (1 - options.GateThreshold) * 0.25;
            var score = Score(result);
            say($"fully quantized: {score:F5} on {probe.Count} calibration samples (fallback target {target:F5})");
            if (score < target)
            {
                var sensitivity = new List<(string Node, double Score)>(candidates.Count);
                for (var i = 0; i < candidates.Count; i++)
                {
                    var onlyThis = candidates.Where(c => c != candidates[i]).ToHashSet(StringComparer.Ordinal);
                    sensitivity.Add((candidates[i], Score(Make(onlyThis, out _), oneSample)));
                    say($"sensitivity {i + 1}/{candidates.Count}: {candidates[i]} alone fully quantized scores {sensitivity[^1].Score:F5}");
                }

                foreach (var (node, _) in sensitivity.OrderBy(s => s.Score).Take(budget))
                {
                    excluded.Add(node);
                    result = Make(excluded, out quantized);
                    score = Score(result);
                    say($"fallback: {excluded.Count} node(s) in FP32 (last {node}) scores {score:F5}");
                    if (score >= target)
                    {
                        break;
                    }
                }

                notes.Add($"Precision fallback: {excluded.Count} most sensitive of {candidates.Count} nodes compute in FP32 with INT8 weights ({string.Join(", ", excluded)}); " +
                          $"score on calibration samples {score:F5}.");
            }
        }

        changes[countKey] = quantized;
        changes["fp32_fallback"] = excluded.Count;
        changes["int8_embedding_tables"] = embeddingTables;
        return result;
    }

    /// <summary>The next free numeric version under a model folder (1 when there is none).</summary>
    public static long NextVersion(string modelDirectory) =>
        Directory.Exists(modelDirectory)
            ? Directory.GetDirectories(modelDirectory)
                .Select(d => long.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0)
                .DefaultIfEmpty(0).Max() + 1
            : 1;

    /// <summary>Samples/second of one sample run back to back for about two seconds.</summary>
    public static double MeasurePeak(string enginePath, InputSample sample)
    {
        using var executor = new ModelExecutor(enginePath);
        executor.Run(sample.Inputs);
        var rows = sample.Inputs.Count > 0 && sample.Inputs[0].Shape.Length > 0 ? sample.Inputs[0].Shape[0] : 1;
        var clock = Stopwatch.StartNew();
        var runs = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(2))
        {
            executor.Run(sample.Inputs);
            runs++;
        }

        return Math.Round(runs * rows / clock.Elapsed.TotalSeconds, 2);
    }

    private static (List<InputSample> Calibration, List<InputSample> HeldOut, string Note) Samples(EngineBuildOptions options, ModelProto model, List<string> notes)
    {
        if (options.DataDirectory is { } folder)
        {
            var all = RepresentativeData.Load(folder, model, options.SampleBatch);
            if (all.Count == 0)
            {
                throw new InvalidDataException("--data folder holds no samples.");
            }

            if (all.Count == 1)
            {
                notes.Add("Only one data sample: the gate compares on the calibration sample itself.");
                return (all, all, $"data folder, 1 sample");
            }

            var heldOutCount = Math.Clamp(options.GateSamples, 1, Math.Max(1, all.Count / 2));
            var calibration = all.Take(Math.Min(options.CalibrationSamples, all.Count - heldOutCount)).ToList();
            return (calibration, all.Skip(all.Count - heldOutCount).ToList(), $"data folder, {all.Count} samples");
        }

        var shapes = options.ShapeProfile.Inputs.ToDictionary(i => i.Name, i => i.Opt);
        var calibrationSamples = RepresentativeData.Synthetic(model, options.CalibrationSamples, options.SampleBatch, options.SampleSequence, options.Seed, shapes);
        var heldOut = RepresentativeData.Synthetic(model, options.GateSamples, options.SampleBatch, options.SampleSequence, options.Seed + 7919, shapes);
        var shape = string.Join(", ", calibrationSamples[0].Inputs.Select(i => $"{i.Name} {ShapeProfile.Format(i.Shape)}"));
        notes.Add("Synthetic data: the gate measures agreement on random inputs; pass --data for the model's real input distribution.");
        return (calibrationSamples, heldOut, $"synthetic ({shape})");
    }

    private static CalibrationTable CalibrationFor(EngineBuildOptions options, ModelProto model, List<InputSample> samples, string sourceSha,
        string stage, Action<string> say, out bool reused)
    {
        CalibrationTable table;
        if (options.CalibrationTablePath is { } path && File.Exists(path))
        {
            table = CalibrationTable.Read(path);
            reused = true;
            if (table.SourceSha256 is { } sha && sha != sourceSha)
            {
                say($"warning: the calibration table was measured on a different source model (sha256 {sha[..12]})");
            }
        }
        else
        {
            var tensors = QdqQuantizer.ActivationTensors(model);
            table = ActivationCalibrator.Calibrate(model, tensors, samples, options.CalibrationMethod, options.Percentile, stage, say)
                with { SourceSha256 = sourceSha };
            reused = false;
            if (options.CalibrationTablePath is { } target)
            {
                table.Write(target);
            }
        }

        table.Write(Path.Combine(stage, CalibrationFileName));
        return table;
    }

    private static string EffectiveLevel(EngineBuildOptions options, List<string> notes)
    {
        var level = options.OptimizationLevel.ToLowerInvariant();
        if (options.ExecutionProvider != "cpu" && level != "disabled")
        {
            notes.Add($"Engine for {options.ExecutionProvider}: saved without ONNX Runtime's CPU optimizations (level {level} is applied " +
                      "by the serving session on its own provider).");
            return "disabled";
        }

        if (level is "extended" or "all" && options.Precision == EnginePrecision.Fp16)
        {
            notes.Add($"FP16 engine saved at optimization level basic instead of {level}: the CPU provider's later passes would turn " +
                      "FP16 weights back into FP32; the serving session applies them at load.");
            return "basic";
        }

        return level;
    }

    private static IReadOnlyDictionary<string, string> TensorRtOptions(EngineBuildOptions options)
    {
        var result = new SortedDictionary<string, string>(options.ShapeProfile.TensorRtOptions().ToDictionary(), StringComparer.Ordinal)
        {
            ["trt_max_workspace_size"] = options.Memory.TensorRtMaxWorkspaceBytes.ToString(CultureInfo.InvariantCulture),
        };
        if (options.Precision == EnginePrecision.Fp16)
        {
            result["trt_fp16_enable"] = "1";
        }

        if (options.Precision is EnginePrecision.Int8Qdq)
        {
            result["trt_int8_enable"] = "1";   // explicit quantization: the QDQ nodes carry the scales
        }

        return result;
    }

    /// <summary>Copies the source model's config (next to it or one folder up) into the model folder when it has none.</summary>
    private static void CopyConfig(EngineBuildOptions options, string modelDirectory)
    {
        var sourceDirectory = Path.GetDirectoryName(Path.GetFullPath(options.ModelPath))!;
        foreach (var file in new[] { "config.yaml", "config.pbtxt" })
        {
            if (File.Exists(Path.Combine(modelDirectory, file)))
            {
                return;
            }
        }

        foreach (var directory in new[] { sourceDirectory, Path.GetDirectoryName(sourceDirectory) })
        {
            foreach (var file in new[] { "config.yaml", "config.pbtxt" })
            {
                var candidate = directory is null ? null : Path.Combine(directory, file);
                if (candidate is not null && File.Exists(candidate))
                {
                    var text = File.ReadAllText(candidate);
                    text = file.EndsWith(".yaml", StringComparison.Ordinal)
                        ? YamlName().Replace(text, $"name: {options.ModelName}", 1)
                        : PbtxtName().Replace(text, $"name: \"{options.ModelName}\"", 1);
                    File.WriteAllText(Path.Combine(modelDirectory, file), text);
                    return;
                }
            }
        }
    }

    [GeneratedRegex(@"^name:\s*\S+", RegexOptions.Multiline)]
    private static partial Regex YamlName();

    [GeneratedRegex(@"^name:\s*""[^""]*""", RegexOptions.Multiline)]
    private static partial Regex PbtxtName();
}
