using Sluice.Onnx.Build;
using Sluice.Onnx.Graph.Proto;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Build;

/// <summary><c>sluice build</c>'s pipeline on the real MiniLM model: FP32-optimized, FP16, INT8 dynamic and QDQ.</summary>
public sealed class EngineBuilderMiniLmTests(MiniLmBuildFixture miniLm) : IClassFixture<MiniLmBuildFixture>
{
    private const int Rows = 2, Seq = 24;

    [Fact]
    public void Build_Fp32Optimized_WritesVersionOneWithFusedGraphAndSameOutputs()
    {
        var repository = miniLm.NewRepository();

        var result = EngineBuilder.Build(miniLm.Options(EnginePrecision.Fp32, repository));

        Assert.True(result.Passed, result.Report.Failure);
        Assert.Equal(Path.Combine(repository, "minilm", "1"), result.Directory);
        Assert.True(File.Exists(Path.Combine(result.Directory, "model.onnx")));
        Assert.True(File.Exists(Path.Combine(result.Directory, EngineManifest.FileName)));
        Assert.True(File.Exists(Path.Combine(result.Directory, BuildReport.FileName)));
        Assert.True(File.Exists(Path.Combine(repository, "minilm", "config.yaml")));   // copied from the source's model folder
        var optimization = result.Report.Optimization!;
        Assert.True(optimization.NodesAfter < optimization.NodesBefore / 2, $"{optimization.NodesBefore} -> {optimization.NodesAfter}");
        Assert.Equal(optimization.NodesAfter, OnnxModelFile.Read(Path.Combine(result.Directory, "model.onnx")).Graph.Node.Count);
        Assert.Contains(optimization.FusedOps.Keys, op => op.StartsWith("com.microsoft.", StringComparison.Ordinal));

        var ids = MiniLmFixture.TokenIds(Rows, Seq, seed: 11);
        var expected = Reference.LastHiddenState(miniLm.ModelPath, ids, Rows, Seq);
        var actual = Reference.LastHiddenState(Path.Combine(result.Directory, "model.onnx"), ids, Rows, Seq);
        Graph.SampleModelsTests.AssertClose(expected, actual, 1e-3f);
    }

    [Fact]
    public void Build_Fp16_HalvesTheFileKeepsFp32InputsAndOutputsAndStaysClose()
    {
        var result = EngineBuilder.Build(miniLm.Options(EnginePrecision.Fp16, miniLm.NewRepository()));

        Assert.True(result.Passed, result.Report.Failure);
        var enginePath = Path.Combine(result.Directory, "model.onnx");
        Assert.InRange(new FileInfo(enginePath).Length, 0, new FileInfo(miniLm.ModelPath).Length * 55 / 100);
        var engine = OnnxModelFile.Read(enginePath);
        var source = OnnxModelFile.Read(miniLm.ModelPath);
        Assert.Equal(source.Graph.Input.Select(i => (i.Name, i.Type.TensorType.ElemType)), engine.Graph.Input.Select(i => (i.Name, i.Type.TensorType.ElemType)));
        Assert.Equal(source.Graph.Output.Select(o => (o.Name, o.Type.TensorType.ElemType)), engine.Graph.Output.Select(o => (o.Name, o.Type.TensorType.ElemType)));
        Assert.Contains(engine.Graph.Initializer, i => i.DataType == (int)TensorProto.Types.DataType.Float16 && i.Dims.Count == 2);
        Assert.Equal("fp16", result.Manifest!.Precision);
        Assert.Contains("Softmax", result.Manifest.Fp32OpTypes!);

        var ids = MiniLmFixture.TokenIds(Rows, Seq, seed: 12);
        var cosine = Reference.MinPooledCosine(Reference.LastHiddenState(miniLm.ModelPath, ids, Rows, Seq),
            Reference.LastHiddenState(enginePath, ids, Rows, Seq), Rows, Seq);
        Assert.True(cosine > 0.999, $"cosine {cosine}");
    }

    [Fact]
    public void Build_Int8Dynamic_PassesGateWithDynamicQuantizeMatMulAtUnderAThirdOfTheSize()
    {
        var result = EngineBuilder.Build(miniLm.Options(EnginePrecision.Int8Dynamic, miniLm.NewRepository()));

        Assert.True(result.Passed, result.Report.Failure);
        Assert.True(result.Report.Accuracy!.Value >= 0.99);
        var enginePath = Path.Combine(result.Directory, "model.onnx");
        Assert.InRange(result.Report.SizeRatio, 0, 0.30);
        Assert.Equal(new FileInfo(enginePath).Length, result.Report.EngineBytes);
        Assert.True(OnnxModelFile.CountOps(OnnxModelFile.Read(enginePath)).GetValueOrDefault("com.microsoft.DynamicQuantizeMatMul") >= 24);

        var ids = MiniLmFixture.TokenIds(Rows, Seq, seed: 13);
        var cosine = Reference.MinPooledCosine(Reference.LastHiddenState(miniLm.ModelPath, ids, Rows, Seq),
            Reference.LastHiddenState(enginePath, ids, Rows, Seq), Rows, Seq);
        Assert.True(cosine > 0.98, $"cosine {cosine}");
    }

    [Fact]
    public void Build_Int8QdqThenBrokenCalibrationTable_FirstPassesSecondFailsGateWithoutNewVersion()
    {
        var repository = miniLm.NewRepository();
        var options = miniLm.Options(EnginePrecision.Int8Qdq, repository);
        options.CalibrationMethod = CalibrationMethod.Percentile;
        options.CalibrationTablePath = Path.Combine(repository, "table.json");

        var good = EngineBuilder.Build(options);

        Assert.True(good.Passed, good.Report.Failure);
        Assert.Equal("int8-qdq", good.Manifest!.Precision);
        Assert.Equal("percentile", good.Manifest.Calibration!.Method);
        Assert.False(good.Manifest.Calibration.Reused);
        var ops = OnnxModelFile.CountOps(OnnxModelFile.Read(Path.Combine(good.Directory, "model.onnx")));
        Assert.True(ops.GetValueOrDefault("QuantizeLinear") > 0, string.Join(", ", ops.Keys));
        var table = CalibrationTable.Read(options.CalibrationTablePath);
        Assert.Equal(table.Ranges, CalibrationTable.Read(Path.Combine(good.Directory, EngineBuilder.CalibrationFileName)).Ranges);
        Assert.All(table.Ranges.Values, r => Assert.True(r.Min <= 0 && r.Max >= 0 && r.Max > r.Min));

        // The same table with every range shrunk 1000x: activations saturate, so the gate must catch it.
        table.Scaled(1e-3f).Write(options.CalibrationTablePath);
        options.MaxFallbackNodes = 0;
        var broken = EngineBuilder.Build(options);

        Assert.False(broken.Passed);
        Assert.True(broken.Report.Accuracy!.Value < 0.99, $"{broken.Report.Accuracy.Value}");
        Assert.Equal("failed", broken.Report.Status);
        Assert.Contains("accuracy gate failed", broken.Report.Failure);
        Assert.True(broken.Report.Calibration!.Reused);
        Assert.Null(broken.Manifest);
        Assert.Equal("failed", BuildReport.Read(broken.Directory).Status);   // the report is on disk
        Assert.StartsWith(".failed-build-", Path.GetFileName(broken.Directory));
        Assert.Equal(["1"], Directory.GetDirectories(Path.Combine(repository, "minilm")).Select(Path.GetFileName)
            .Where(n => !n!.StartsWith('.')));   // no version 2
    }

    [Fact]
    public void Build_Int8DynamicUnreachableThreshold_FallsBackTheMostSensitiveNodesThenFailsTheGate()
    {
        var options = miniLm.Options(EnginePrecision.Int8Dynamic, miniLm.NewRepository());
        options.GateThreshold = 0.99999;
        options.MaxFallbackNodes = 2;

        var result = EngineBuilder.Build(options);

        Assert.False(result.Passed);
        Assert.Equal(2, result.Report.PrecisionChanges["fp32_fallback"]);
        Assert.Equal(34, result.Report.PrecisionChanges["dynamic_quantize_matmul"]);
        Assert.Contains(result.Report.Notes, n => n.StartsWith("Precision fallback: 2 most sensitive of 36", StringComparison.Ordinal));
    }

    [Fact]
    public void ManifestRead_AfterBuild_RoundTripsProfileHardwareAndAccuracy()
    {
        var options = miniLm.Options(EnginePrecision.Fp32, miniLm.NewRepository());
        options.ShapeProfile = ShapeProfile.Parse(["input_ids:1x8,2x16,8x64", "attention_mask:1x8,2x16,8x64"]);
        options.Memory = new EngineMemoryOptions { TensorRtMaxWorkspaceBytes = 1 << 28, ArenaExtendStrategy = "kSameAsRequested" };
        var result = EngineBuilder.Build(options);

        var manifest = EngineManifest.Read(result.Directory);

        Assert.Equal(OnnxModelFile.Sha256(miniLm.ModelPath), manifest.SourceSha256);
        Assert.Equal(OnnxModelFile.Sha256(Path.Combine(result.Directory, manifest.EngineFile)), manifest.EngineSha256);
        Assert.Equal("fp32", manifest.Precision);
        Assert.Equal(1, manifest.Version);
        Assert.Equal("cpu", manifest.ExecutionProvider);
        Assert.Equal(Sluice.Onnx.Runtime.OnnxRuntimeInfo.Version, manifest.OnnxRuntimeVersion);
        Assert.Equal(result.Manifest!.Accuracy.Value, manifest.Accuracy.Value);
        Assert.Equal([2L, 16L], manifest.ShapeProfile.Find("input_ids")!.Opt);
        Assert.Equal("input_ids:8x64,attention_mask:8x64", manifest.TensorRtOptions["trt_profile_max_shapes"]);
        Assert.Equal((1L << 28).ToString(System.Globalization.CultureInfo.InvariantCulture), manifest.TensorRtOptions["trt_max_workspace_size"]);
        Assert.Equal("kSameAsRequested", manifest.Memory.ArenaExtendStrategy);
        Assert.Equal(HardwareFingerprint.Current().CpuFlags, manifest.Hardware.CpuFlags);
        Assert.Empty(HardwareFingerprint.Compare(manifest.Hardware, HardwareFingerprint.Current()));
        Assert.Contains("input_ids 2x16", result.Report.Data);   // synthetic samples took the profile's opt shape
    }
}
