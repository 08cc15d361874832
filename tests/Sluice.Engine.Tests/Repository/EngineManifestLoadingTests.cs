using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Engine.Tests.TestSupport;
using Sluice.Onnx.Build;

namespace Sluice.Engine.Tests.Repository;

/// <summary>Engines from <c>sluice build</c> carry a manifest: its hardware fingerprint gates loading, its shape profile gates requests.</summary>
public sealed class EngineManifestLoadingTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);

    private static void WriteManifest(string repo, HardwareFingerprint hardware, ShapeProfile profile)
    {
        var versionDirectory = Path.Combine(repo, "add_one", "1");
        new EngineManifest
        {
            ModelName = "add_one",
            Version = 1,
            CreatedUtc = DateTimeOffset.UtcNow,
            SourceFile = "model.onnx",
            SourceSha256 = "0",
            EngineFile = "model.onnx",
            EngineSha256 = "0",
            Precision = "fp32",
            OptimizationLevel = "all",
            Accuracy = new AccuracyReport("cosine", 0.99, 1, true, 1, []),
            ShapeProfile = profile,
            OnnxRuntimeVersion = "test",
            ExecutionProvider = "cpu",
            Hardware = hardware,
        }.Write(versionDirectory);
    }

    [Fact]
    public async Task Load_EngineBuiltForAnotherCpu_IsRefusedSayingWhatDiffers()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        WriteManifest(repo.Path, HardwareFingerprint.Current() with { CpuModel = "Imaginary CPU 9000" }, ShapeProfile.Empty);
        await using var manager = Repos.Manager(repo.Path);

        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        Assert.False(manager.IsModelReady("add_one", null));
        var entry = Assert.Single(manager.GetIndex(readyOnly: false), e => e.Name == "add_one");
        Assert.Equal("UNAVAILABLE", entry.State);
        Assert.Contains("Imaginary CPU 9000", entry.Reason);
        Assert.Contains("--allow-hardware-mismatch", entry.Reason);
    }

    [Fact]
    public async Task Load_MismatchWithOverride_Serves()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        WriteManifest(repo.Path, HardwareFingerprint.Current() with { CpuModel = "Imaginary CPU 9000" }, ShapeProfile.Empty);
        await using var manager = Repos.Manager(repo.Path, allowHardwareMismatch: true);

        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        Assert.True(manager.IsModelReady("add_one", null));
    }

    [Fact]
    public async Task Infer_OutsideTheEngineShapeProfile_IsInvalidInputNamingTheInput()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        WriteManifest(repo.Path, HardwareFingerprint.Current(), ShapeProfile.Parse(["INPUT0:1x4,2x4,2x4"]));
        await using var manager = Repos.Manager(repo.Path);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        var inside = await manager.InferAsync(Requests.AddOne("add_one", rows: 2), CancellationToken.None).AsTask().WaitAsync(Safety);
        var outside = await Assert.ThrowsAsync<InferenceException>(
            () => manager.InferAsync(Requests.AddOne("add_one", rows: 3), CancellationToken.None).AsTask().WaitAsync(Safety));

        Assert.Equal([2L, 4L], inside.Outputs[0].Shape);
        Assert.Equal(InferenceError.InvalidInput, outside.Error);
        Assert.Contains("INPUT0", outside.Message);
    }
}
