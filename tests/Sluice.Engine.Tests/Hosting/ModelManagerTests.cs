using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Core.Tensors;
using Sluice.Engine.Hosting;
using Sluice.Engine.Tests.TestSupport;
using Sluice.Onnx.Graph;

namespace Sluice.Engine.Tests.Hosting;

public sealed class ModelManagerTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task InferAsync_TritonStyleRepository_ServesRealModel()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        await using var manager = Repos.Manager(repo.Path);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        var response = await manager.InferAsync(Requests.AddOne("add_one", rows: 2, start: 1), CancellationToken.None).AsTask().WaitAsync(Safety);

        Assert.Equal("1", response.ModelVersion);
        Assert.Equal(Enumerable.Range(2, 8).Select(v => (float)v), response.Outputs[0].ToArray<float>());
        Assert.True(manager.IsModelReady("add_one", null));
        Assert.True(manager.IsModelReady("add_one", "1"));
        Assert.False(manager.IsModelReady("add_one", "2"));
        var metadata = manager.GetModelMetadata("add_one", null);
        Assert.Equal("onnxruntime_onnx", metadata.Platform);
        Assert.Equal([-1L, 4L], metadata.Inputs[0].Shape);
        Assert.Equal("FP32", metadata.Inputs[0].Datatype);
        Assert.Equal(["1"], metadata.Versions);
    }

    [Fact]
    public async Task LoadInitialModels_NoConfig_AutoCompletesFromTheModel()
    {
        using var repo = new TempDirectory();
        SampleModels.WriteAddSub(Path.Combine(repo.Path, "add_sub", "1", "model.onnx"));
        await using var manager = Repos.Manager(repo.Path);

        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        var config = manager.GetModelConfig("add_sub", null);
        Assert.Equal(32, config.MaxBatchSize);
        Assert.NotNull(config.DynamicBatching);
        Assert.Equal(["OUTPUT0", "OUTPUT1"], config.Outputs.Select(o => o.Name));
    }

    [Fact]
    public async Task InferAsync_UnknownModelOrVersion_ThrowsNotFoundNamingIt()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        await using var manager = Repos.Manager(repo.Path);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        var noModel = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync(Requests.AddOne("nope"), CancellationToken.None).AsTask());
        var noVersion = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync(Requests.AddOne("add_one", version: "7"), CancellationToken.None).AsTask());
        var badVersion = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync(Requests.AddOne("add_one", version: "../1"), CancellationToken.None).AsTask());
        var badName = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync(Requests.AddOne("../add_one"), CancellationToken.None).AsTask());

        Assert.Equal(InferenceError.ModelNotFound, noModel.Error);
        Assert.Contains("'nope'", noModel.Message);
        Assert.Equal(InferenceError.ModelNotFound, noVersion.Error);
        Assert.Contains("version 7", noVersion.Message);
        Assert.Equal(InferenceError.InvalidInput, badVersion.Error);
        Assert.Contains("model_version", badVersion.Message);
        Assert.Equal(InferenceError.InvalidInput, badName.Error);
        Assert.Contains("model_name", badName.Message);
    }

    [Fact]
    public async Task InferAsync_InvalidInput_ThrowsBeforeQueueing()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        await using var manager = Repos.Manager(repo.Path);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);
        var request = new InferenceRequest { ModelName = "add_one", Inputs = [TensorData.From<long>("INPUT0", [1, 4], new long[4])] };

        var error = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync(request, CancellationToken.None).AsTask());

        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Equal("input 'INPUT0': expected datatype FP32, got INT64", error.Message);
        Assert.Equal(0, manager.GetRequestCounts("add_one", null).Admitted);
    }

    [Fact]
    public async Task InferAsync_DrainingAfterProtocolAdmittedRequest_StillRunsIt()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        var lifecycle = new ServerLifecycle();
        await using var manager = Repos.Manager(repo.Path);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);
        Assert.True(lifecycle.TryEnter());   // the protocol layer admitted it before SIGTERM
        lifecycle.BeginDrain();

        var response = await manager.InferAsync(Requests.AddOne("add_one"), CancellationToken.None).AsTask().WaitAsync(Safety);
        lifecycle.Exit();

        Assert.Equal("add_one", response.ModelName);
        Assert.False(lifecycle.TryEnter());
        Assert.Equal(0, lifecycle.InFlight);
    }

    [Fact]
    public async Task LoadAndUnload_ControlModeNone_AreRefused()
    {
        using var repo = new TempDirectory();
        await using var manager = Repos.Manager(repo.Path);

        var load = await Assert.ThrowsAsync<InferenceException>(() => manager.LoadModelAsync("x", CancellationToken.None));
        var unload = await Assert.ThrowsAsync<InferenceException>(() => manager.UnloadModelAsync("x", CancellationToken.None));

        Assert.Equal("model control mode is none", load.Message);
        Assert.Equal("model control mode is none", unload.Message);
        Assert.Equal(InferenceError.InvalidInput, load.Error);
    }

    [Fact]
    public async Task LoadAndUnload_ExplicitMode_LoadServesThenUnloadRemoves()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Explicit);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);
        Assert.False(manager.IsModelReady("add_one", null));
        Assert.Contains(manager.GetIndex(readyOnly: false), e => e is { Name: "add_one", State: "UNAVAILABLE", Reason: "unloaded" });

        await manager.LoadModelAsync("add_one", CancellationToken.None).WaitAsync(Safety);
        var response = await manager.InferAsync(Requests.AddOne("add_one"), CancellationToken.None).AsTask().WaitAsync(Safety);
        await manager.UnloadModelAsync("add_one", CancellationToken.None).WaitAsync(Safety);

        Assert.Equal(1f, response.Outputs[0].ToArray<float>()[0]);
        Assert.False(manager.IsModelReady("add_one", null));
        var error = await Assert.ThrowsAsync<InferenceException>(() => manager.InferAsync(Requests.AddOne("add_one"), CancellationToken.None).AsTask());
        Assert.Equal(InferenceError.ModelNotFound, error.Error);
        Assert.Empty(manager.GetIndex(readyOnly: true));
    }

    [Fact]
    public async Task LoadInitialModels_ExplicitModeWithStartupModels_LoadsOnlyThose()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "a", 1, Repos.AddOneConfig());
        Repos.WriteAddOne(repo.Path, "b", 1, Repos.AddOneConfig());
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Explicit, startup: ["b"]);

        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        Assert.False(manager.IsModelReady("a", null));
        Assert.True(manager.IsModelReady("b", null));
        Assert.Equal(["b"], manager.GetIndex(readyOnly: true).Select(e => e.Name));
    }

    [Theory]
    [InlineData("../add_one", InferenceError.InvalidInput)]
    [InlineData("%2e%2e%2fadd_one", InferenceError.InvalidInput)]
    [InlineData("/etc", InferenceError.InvalidInput)]
    [InlineData("a\0b", InferenceError.InvalidInput)]
    [InlineData("missing", InferenceError.ModelNotFound)]
    public async Task LoadModelAsync_UnsafeOrUnknownName_IsRefused(string name, InferenceError expected)
    {
        using var repo = new TempDirectory();
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Explicit);

        var error = await Assert.ThrowsAsync<InferenceException>(() => manager.LoadModelAsync(name, CancellationToken.None));

        Assert.Equal(expected, error.Error);
        Assert.DoesNotContain(repo.Path, error.Message);
    }

    [Fact]
    public async Task LoadModelAsync_CorruptModel_FailsWithReasonAndIndexShowsUnavailableWithoutPaths()
    {
        using var repo = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(repo.Path, "broken", "1"));
        await File.WriteAllTextAsync(Path.Combine(repo.Path, "broken", "1", "model.onnx"), "this is not a model");
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Explicit);

        var error = await Assert.ThrowsAsync<InferenceException>(() => manager.LoadModelAsync("broken", CancellationToken.None).WaitAsync(Safety));

        Assert.Equal(InferenceError.LoadFailed, error.Error);
        var entry = Assert.Single(manager.GetIndex(readyOnly: false), e => e.Name == "broken");
        Assert.Equal("UNAVAILABLE", entry.State);
        Assert.Equal("1", entry.Version);
        Assert.NotEmpty(entry.Reason);
        Assert.DoesNotContain(repo.Path, entry.Reason);
        Assert.DoesNotContain(Path.GetTempPath(), entry.Reason);
    }

    [Fact]
    public async Task LoadModelAsync_BadConfig_ReportsFileAndField()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, "max_batch_size: 8\ninput [ { name: \"WRONG\" data_type: TYPE_FP32 dims: [4] } ]");
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Explicit);

        var error = await Assert.ThrowsAsync<InferenceException>(() => manager.LoadModelAsync("add_one", CancellationToken.None).WaitAsync(Safety));

        Assert.Contains("add_one/config.pbtxt", error.Message);
        Assert.Contains("'WRONG' is not an input of the model", error.Message);
    }

    [Fact]
    public async Task Poll_NewVersionCorrupt_OldVersionKeepsServing()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Poll);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);
        Directory.CreateDirectory(Path.Combine(repo.Path, "add_one", "2"));
        await File.WriteAllTextAsync(Path.Combine(repo.Path, "add_one", "2", "model.onnx"), "garbage");

        await manager.PollAsync(CancellationToken.None).WaitAsync(Safety);
        var response = await manager.InferAsync(Requests.AddOne("add_one"), CancellationToken.None).AsTask().WaitAsync(Safety);
        var load = await Assert.ThrowsAsync<InferenceException>(() => manager.LoadModelAsync("add_one", CancellationToken.None).WaitAsync(Safety));

        Assert.Equal(InferenceError.LoadFailed, load.Error);
        Assert.Contains("version 1 keeps serving", load.Message);
        Assert.Equal("1", response.ModelVersion);
        var index = manager.GetIndex(readyOnly: false);
        Assert.Contains(index, e => e is { Name: "add_one", Version: "1", State: "READY" });
        var failed = Assert.Single(index, e => e.Version == "2");
        Assert.Equal("UNAVAILABLE", failed.State);
        Assert.DoesNotContain(repo.Path, failed.Reason);
    }

    [Fact]
    public async Task Poll_BrokenConfig_OldVersionKeepsServingAndIndexSaysWhy()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Poll);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);
        await File.WriteAllTextAsync(Path.Combine(repo.Path, "add_one", "config.pbtxt"), "max_batch_size: {");

        await manager.PollAsync(CancellationToken.None).WaitAsync(Safety);

        Assert.True(manager.IsModelReady("add_one", "1"));
        var entry = Assert.Single(manager.GetIndex(readyOnly: false), e => e.State == "UNAVAILABLE");
        Assert.StartsWith("add_one/config.pbtxt:1:", entry.Reason);
    }

    [Fact]
    public async Task Poll_VersionSymlinkedOutsideRepository_IsNotLoaded()
    {
        using var repo = new TempDirectory();
        using var outside = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        SampleModels.WriteAddOne(Path.Combine(outside.Path, "model.onnx"));
        Directory.CreateSymbolicLink(Path.Combine(repo.Path, "add_one", "2"), outside.Path);
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Poll);

        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        Assert.True(manager.IsModelReady("add_one", "1"));
        Assert.False(manager.IsModelReady("add_one", "2"));
        var entry = Assert.Single(manager.GetIndex(readyOnly: false), e => e.Version == "2");
        Assert.Contains("links outside the model repository", entry.Reason);
        Assert.DoesNotContain(outside.Path, entry.Reason);
    }

    [Fact]
    public async Task Poll_ReplaceVersionUnderLoad_NoRequestFails()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig(delayUs: 500));
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Poll);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);
        using var stop = new CancellationTokenSource();
        var versionsSeen = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var clients = Enumerable.Range(0, 6).Select(c => Task.Run(async () =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var response = await manager.InferAsync(Requests.AddOne("add_one", start: c * 1000 + i++), CancellationToken.None);
                    versionsSeen.AddOrUpdate(response.ModelVersion, 1, (_, n) => n + 1);
                    if (response.Outputs[0].ToArray<float>()[0] != c * 1000 + i)
                    {
                        failures.Enqueue(new InvalidOperationException("wrong result"));
                    }
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                }
            }
        })).ToList();
        await Requests.WaitUntilAsync(() => versionsSeen.GetValueOrDefault("1") > 20, Safety, "traffic on version 1");

        Repos.WriteAddOne(repo.Path, "add_one", 2);
        Directory.Delete(Path.Combine(repo.Path, "add_one", "1"), recursive: true);
        await manager.PollAsync(CancellationToken.None).WaitAsync(Safety);
        await Requests.WaitUntilAsync(() => versionsSeen.GetValueOrDefault("2") > 20, Safety, "traffic on version 2");
        await stop.CancelAsync();
        await Task.WhenAll(clients).WaitAsync(Safety);

        Assert.Empty(failures);
        Assert.False(manager.IsModelReady("add_one", "1"));
        Assert.True(manager.IsModelReady("add_one", "2"));
        Assert.Equal(["2"], manager.GetIndex(readyOnly: true).Select(e => e.Version));
    }

    [Fact]
    public async Task Poll_ModelFolderRemoved_UnloadsIt()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Poll);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        Directory.Delete(Path.Combine(repo.Path, "add_one"), recursive: true);
        await manager.PollAsync(CancellationToken.None).WaitAsync(Safety);

        Assert.False(manager.IsModelReady("add_one", null));
        Assert.Empty(manager.GetIndex(readyOnly: false));
    }

    [Fact]
    public async Task Reload_WithFakeBackend_OldRunnersDisposedOnlyAfterInFlightFinish()
    {
        using var repo = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(repo.Path, "m", "1"));
        await File.WriteAllTextAsync(Path.Combine(repo.Path, "m", "1", "model.onnx"), "v1");
        var backend = new FakeBackend(FakeBackend.AddOneSignature);
        await using var manager = Repos.Manager(repo.Path, ModelControlMode.Poll, backend);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);
        var oldRunner = Assert.Single(backend.Runners);
        oldRunner.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = manager.InferAsync(Requests.AddOne("m", start: 7), CancellationToken.None).AsTask();
        await Requests.WaitUntilAsync(() => oldRunner.Calls.Count == 2, Safety, "request running on version 1");   // warm-up + request

        Directory.CreateDirectory(Path.Combine(repo.Path, "m", "2"));
        await File.WriteAllTextAsync(Path.Combine(repo.Path, "m", "2", "model.onnx"), "v2");
        await manager.PollAsync(CancellationToken.None).WaitAsync(Safety);
        var onNew = await manager.InferAsync(Requests.AddOne("m"), CancellationToken.None).AsTask().WaitAsync(Safety);

        Assert.Equal("2", onNew.ModelVersion);
        Assert.False(oldRunner.Disposed);
        oldRunner.Gate.SetResult();
        var old = await inFlight.WaitAsync(Safety);
        Assert.Equal("1", old.ModelVersion);
        Assert.Equal(8f, old.Outputs[0].ToArray<float>()[0]);
        await Requests.WaitUntilAsync(() => oldRunner.Disposed, Safety, "version 1 runner disposed after draining");
    }

    [Fact]
    public async Task GetStatistics_AfterRequests_CountsMatch()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        await using var manager = Repos.Manager(repo.Path);
        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        for (var i = 0; i < 5; i++)
        {
            await manager.InferAsync(Requests.AddOne("add_one", rows: 2), CancellationToken.None).AsTask().WaitAsync(Safety);
        }

        var stats = Assert.Single(manager.GetStatistics("add_one", null));
        Assert.Equal("1", stats.Version);
        Assert.Equal(5, stats.InferenceStats.Success.Count);
        Assert.Equal(10, stats.InferenceCount);
        Assert.Equal(5, stats.ExecutionCount);
        Assert.True(stats.InferenceStats.ComputeInfer.Ns > 0);
        Assert.Equal(5, stats.BatchStats.Single(b => b.BatchSize == 2).ComputeInfer.Count);
        Assert.Single(manager.GetStatistics(null, null));
        Assert.Equal(new Sluice.Engine.Statistics.RequestCounts(5, 5, 0, 0, 0, 0), manager.GetRequestCounts("add_one", "1"));
    }
}
