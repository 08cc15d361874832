using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Core.Tensors;
using Sluice.Engine.Hosting;
using Sluice.Engine.Repository;
using Sluice.Engine.Tests.TestSupport;

namespace Sluice.Engine.Tests.Hosting;

public sealed class EngineServiceCollectionExtensionsTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(60);

    private static ServiceProvider Build(Action<ModelRepositoryOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory, NullLoggerFactory>();
        services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
        services.AddSluiceEngine(configure);
        return services.BuildServiceProvider();
    }

    private static async Task StartAsync(IServiceProvider provider)
    {
        provider.GetRequiredService<IStartupValidator>().Validate();
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None).WaitAsync(Safety);
        }
    }

    private static async Task StopAsync(IServiceProvider provider)
    {
        foreach (var hosted in provider.GetServices<IHostedService>().Reverse())
        {
            await hosted.StopAsync(CancellationToken.None).WaitAsync(Safety);
        }
    }

    [Fact]
    public void AddSluiceEngine_MissingRepository_FailsValidationNamingTheOption()
    {
        using var provider = Build(o => o.RepositoryPath = "/definitely/not/here");

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("RepositoryPath", error.Message);
    }

    [Fact]
    public void AddSluiceEngine_BadDevice_FailsValidation()
    {
        using var repo = new TempDirectory();
        using var provider = Build(o => { o.RepositoryPath = repo.Path; o.Device = "tpu"; });

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("'tpu'", error.Message);
    }

    [Fact]
    public async Task AddSluiceEngine_DemoModelWithBatching_EqualsUnbatchedResultsOnMixedSequenceLengths()
    {
        using var repo = new TempDirectory();
        var root = Path.Combine(repo.Path, "repo");
        var modelPath = DemoRepository.WriteMiniLm(root);
        // The same model with batching off: every request runs alone.
        Directory.CreateDirectory(Path.Combine(root, "minilm_single", "1"));
        File.Copy(modelPath, Path.Combine(root, "minilm_single", "1", "model.onnx"));
        await File.WriteAllTextAsync(Path.Combine(root, "minilm_single", "config.yaml"), "max_batch_size: 32\n");
        // A longer batching delay on the batched model, so concurrent requests surely meet in batches.
        var config = await File.ReadAllTextAsync(Path.Combine(root, "minilm", "config.yaml"));
        await File.WriteAllTextAsync(Path.Combine(root, "minilm", "config.yaml"), config.Replace("max_queue_delay_microseconds: 1000", "max_queue_delay_microseconds: 20000"));
        await using var provider = Build(o => o.RepositoryPath = root);
        await StartAsync(provider);
        var inference = provider.GetRequiredService<IInferenceService>();
        var repository = provider.GetRequiredService<IModelRepositoryService>();
        Assert.True(repository.IsModelReady("minilm", null));
        Assert.Null(repository.GetModelConfig("minilm_single", null).DynamicBatching);

        var lengths = new[] { 5, 9, 5, 13, 9, 5, 13, 5, 9, 5, 13, 9 };
        var batched = await Task.WhenAll(lengths.Select((len, i) => inference.InferAsync(Request("minilm", len, i), CancellationToken.None).AsTask())).WaitAsync(Safety);
        var single = new List<InferenceResponse>();
        for (var i = 0; i < lengths.Length; i++)
        {
            single.Add(await inference.InferAsync(Request("minilm_single", lengths[i], i), CancellationToken.None).AsTask().WaitAsync(Safety));
        }

        Assert.Contains(batched, r => r.Timestamps.BatchSize > 1);
        Assert.All(single, r => Assert.Equal(1, r.Timestamps.BatchSize));
        for (var i = 0; i < lengths.Length; i++)
        {
            var a = batched[i].Outputs[0];
            var b = single[i].Outputs[0];
            Assert.Equal([1L, lengths[i], 384L], a.Shape);
            Assert.Equal(b.Shape, a.Shape);
            var x = a.ToArray<float>();
            var y = b.ToArray<float>();
            for (var j = 0; j < x.Length; j++)
            {
                Assert.True(Math.Abs(x[j] - y[j]) <= 1e-5f, $"request {i} element {j}: {x[j]} vs {y[j]}");
            }
        }

        var stats = repository.GetStatistics("minilm", null).Single();
        Assert.Equal(lengths.Length + 0, stats.InferenceStats.Success.Count);
        Assert.Equal(lengths.Length, stats.InferenceCount);
        Assert.True(stats.ExecutionCount < lengths.Length);
        Assert.Equal(stats.ExecutionCount, stats.BatchStats.Sum(b => b.ComputeInfer.Count));
        await StopAsync(provider);
        Assert.False(repository.IsModelReady("minilm", null));

        static InferenceRequest Request(string model, int length, int seed)
        {
            var ids = Enumerable.Range(0, length).Select(t => t == 0 ? 101L : t == length - 1 ? 102L : 1000L + (seed * 37 + t * 11) % 5000).ToArray();
            return new InferenceRequest
            {
                ModelName = model,
                Inputs =
                [
                    TensorData.From<long>("input_ids", [1, length], ids),
                    TensorData.From<long>("attention_mask", [1, length], Enumerable.Repeat(1L, length).ToArray()),
                    TensorData.From<long>("token_type_ids", [1, length], new long[length]),
                ],
            };
        }
    }

    [Fact]
    public async Task AddSluiceEngine_WriteDemoModelIntoAbsentFolder_WritesAndServesIt()
    {
        using var repo = new TempDirectory();
        var root = Path.Combine(repo.Path, "fresh");
        await using var provider = Build(o => { o.RepositoryPath = root; o.WriteDemoModel = true; });

        await StartAsync(provider);

        var repository = provider.GetRequiredService<IModelRepositoryService>();
        Assert.True(File.Exists(Path.Combine(root, "minilm", "1", "model.onnx")));
        Assert.True(repository.IsModelReady("minilm", "1"));
        var metadata = repository.GetModelMetadata("minilm", null);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], metadata.Inputs.Select(i => i.Name));
        Assert.Equal([-1L, -1L, 384L], metadata.Outputs.Single().Shape);
        Assert.Same(provider.GetRequiredService<IInferenceService>(), repository);
        await StopAsync(provider);
    }

    [Fact]
    public async Task AddSluiceEngine_PollMode_PicksUpANewModelWithoutRestart()
    {
        using var repo = new TempDirectory();
        await using var provider = Build(o => { o.RepositoryPath = repo.Path; o.ControlMode = ModelControlMode.Poll; o.PollInterval = TimeSpan.FromMilliseconds(50); });
        await StartAsync(provider);
        var repository = provider.GetRequiredService<IModelRepositoryService>();
        Assert.False(repository.IsModelReady("add_one", null));

        Repos.WriteAddOne(repo.Path, "add_one", 1, Repos.AddOneConfig());
        await Requests.WaitUntilAsync(() => repository.IsModelReady("add_one", null), Safety, "poller loads the new model");

        var response = await provider.GetRequiredService<IInferenceService>().InferAsync(Requests.AddOne("add_one"), CancellationToken.None).AsTask().WaitAsync(Safety);
        Assert.Equal(1f, response.Outputs[0].ToArray<float>()[0]);
        await StopAsync(provider);
    }
}
