using Sluice.Core.Tensors;
using Sluice.Onnx.Build;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Build;

/// <summary>The build pipeline's bookkeeping on small models: validation, versions, config copy, top-1 gate.</summary>
public sealed class EngineBuilderSmallModelTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    [Fact]
    public void Validate_BadOptions_ReportsEveryProblemNamingItsFlag()
    {
        var options = new EngineBuildOptions
        {
            ModelPath = _dir.File("missing.onnx"),
            RepositoryPath = _dir.Path,
            ModelName = ".hidden",
            CalibrationSamples = 0,
            GateThreshold = 2,
            ExecutionProvider = "tpu",
            OptimizationLevel = "max",
        };

        var errors = options.Validate();

        Assert.Contains(errors, e => e.Contains("missing.onnx"));
        Assert.Contains(errors, e => e.Contains("--name"));
        Assert.Contains(errors, e => e.Contains("--samples"));
        Assert.Contains(errors, e => e.Contains("--gate-threshold"));
        Assert.Contains(errors, e => e.Contains("--execution-provider"));
        Assert.Contains(errors, e => e.Contains("--optimization-level"));
        Assert.DoesNotContain(errors, e => e.Contains(_dir.Path));   // no absolute paths
    }

    [Fact]
    public void Build_ClassifierWithTop1Gate_WritesNextVersionAfterExistingOnesAndCopiesConfigWithNewName()
    {
        var source = _dir.File("src/classifier/3/model.onnx");
        SampleModels.WriteMatMul(source, inFeatures: 16, outFeatures: 10, seed: 7);
        File.WriteAllText(_dir.File("src/classifier/config.yaml"), "name: classifier\nbackend: onnxruntime\n");
        var repository = _dir.File("repo");
        Directory.CreateDirectory(Path.Combine(repository, "cls", "4"));
        Directory.CreateDirectory(Path.Combine(repository, "cls", "notes"));

        var result = EngineBuilder.Build(new EngineBuildOptions
        {
            ModelPath = source,
            RepositoryPath = repository,
            ModelName = "cls",
            Precision = EnginePrecision.Int8Dynamic,
            GateMetric = GateMetric.Top1,
            GateThreshold = 0.9,
            CalibrationSamples = 2,
            GateSamples = 4,
            SampleBatch = 8,
        });

        Assert.True(result.Passed, result.Report.Failure);
        Assert.Equal(Path.Combine(repository, "cls", "5"), result.Directory);
        Assert.Equal(5, result.Manifest!.Version);
        Assert.Equal("top1", result.Report.Accuracy!.Metric);
        Assert.InRange(result.Report.Accuracy.Value, 0.9, 1.0);
        Assert.All(result.Report.Accuracy.Outputs, o => Assert.True(o.MaxAbsError < 0.5, $"{o.MaxAbsError}"));
        Assert.StartsWith("name: cls\n", File.ReadAllText(Path.Combine(repository, "cls", "config.yaml")));
        Assert.Empty(Directory.GetDirectories(Path.Combine(repository, "cls"), ".build-*"));   // staging folder gone
    }

    [Fact]
    public void Build_CorruptModel_ThrowsAndStillWritesAFailedReport()
    {
        var source = _dir.File("corrupt.onnx");
        File.WriteAllBytes(source, [0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]);
        var repository = _dir.File("repo-corrupt");

        Assert.ThrowsAny<Exception>(() => EngineBuilder.Build(new EngineBuildOptions { ModelPath = source, RepositoryPath = repository, ModelName = "m" }));

        var failed = Assert.Single(Directory.GetDirectories(Path.Combine(repository, "m")));
        Assert.StartsWith(".failed-build-", Path.GetFileName(failed));
        var report = BuildReport.Read(failed);
        Assert.Equal("failed", report.Status);
        Assert.Contains("'start' stage", report.Failure);
    }

    [Fact]
    public void NextVersion_IgnoresNonNumericFolders()
    {
        var model = _dir.File("m");
        Directory.CreateDirectory(Path.Combine(model, "2"));
        Directory.CreateDirectory(Path.Combine(model, "10"));
        Directory.CreateDirectory(Path.Combine(model, ".failed-build-1"));

        Assert.Equal(11, EngineBuilder.NextVersion(model));
        Assert.Equal(1, EngineBuilder.NextVersion(_dir.File("absent")));
    }

    public void Dispose() => _dir.Dispose();
}
