using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sluice.Core.Generation;
using Sluice.Engine.Generation;
using Sluice.Engine.Hosting;
using Sluice.Engine.Repository;
using Sluice.Onnx.Runtime;

namespace Sluice.Engine.Tests.Generation;

/// <summary>The tiny-llama fixture in a temporary repository, served by a real <see cref="GenerationManager"/> on ONNX Runtime.</summary>
internal sealed class TinyLlama : IAsyncDisposable
{
    private readonly string _root;

    private TinyLlama(string root, GenerationManager manager, RecordingObserver observer)
    {
        _root = root;
        Manager = manager;
        Observer = observer;
    }

    public const string Name = "tiny-llama";

    public GenerationManager Manager { get; }

    public RecordingObserver Observer { get; }

    /// <param name="generation">Lines that replace the <c>generation:</c> section's settings of the same key (e.g. <c>prefill_chunk: 16</c>).</param>
    public static async Task<TinyLlama> StartAsync(params string[] generation)
    {
        var root = Directory.CreateTempSubdirectory("sluice-gen-").FullName;
        DemoRepository.WriteTinyLlama(root);
        var configPath = Path.Combine(root, Name, "config.yaml");
        var lines = File.ReadAllLines(configPath).ToList();
        foreach (var setting in generation)
        {
            var key = setting.Split(':')[0].Trim();
            var index = lines.FindIndex(l => l.TrimStart().StartsWith(key + ":", StringComparison.Ordinal));
            if (index >= 0)
            {
                lines[index] = "  " + setting;
            }
            else
            {
                lines.Add("  " + setting);
            }
        }

        File.WriteAllLines(configPath, lines);
        var observer = new RecordingObserver();
        var manager = new GenerationManager(Options.Create(new ModelRepositoryOptions { RepositoryPath = root }),
            [new OnnxModelBackend()], [observer], NullLogger<GenerationManager>.Instance);
        await manager.StartAsync(CancellationToken.None);
        Assert.True(manager.TryGetModel(Name, out _), "tiny-llama did not load");
        return new TinyLlama(root, manager, observer);
    }

    public static IReadOnlyList<GoldenCase> Golden { get; } = LoadGolden();

    private static GoldenCase[] LoadGolden()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fixtures", "tiny-llama", "golden.json")));
        return document.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => new GoldenCase(
                c.GetProperty("prompt").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("generated").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToArray();
    }

    public static GenerationRequest Greedy(int[] prompt, int maxTokens) =>
        new(Name, prompt, new SamplingParameters(MaxTokens: maxTokens, Temperature: 0f, IgnoreEos: true));

    /// <summary>Runs a sequence to its end; returns its tokens and the final update.</summary>
    public async Task<(List<int> Tokens, GenerationUpdate Final, string Text)> RunAsync(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        await using var handle = Manager.Start(request, cancellationToken);
        var tokens = new List<int>();
        var text = new System.Text.StringBuilder();
        GenerationUpdate? final = null;
        await foreach (var update in handle.Updates(cancellationToken))
        {
            tokens.AddRange(update.TokenIds);
            text.Append(update.Text);
            if (update.Finish is not null)
            {
                final = update;
            }
        }

        Assert.NotNull(final);
        return (tokens, final, text.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        await Manager.StopAsync(CancellationToken.None);
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal sealed record GoldenCase(int[] Prompt, int[] Generated);

/// <summary>Records what the scheduler reports, thread-safely.</summary>
internal sealed class RecordingObserver : IGenerationObserver
{
    private readonly Lock _lock = new();

    public List<GenerationStep> Steps { get; } = [];
    public List<(FinishReason Reason, GenerationUsage Usage)> Ended { get; } = [];
    public int FirstTokens { get; private set; }
    public int NextTokens { get; private set; }

    /// <summary>Called on the scheduler thread after every token past the first (tests cancel from here deterministically).</summary>
    public Action<int>? OnNextToken { get; set; }

    public void FirstToken(string model, TimeSpan timeToFirstToken, TimeSpan queue)
    {
        lock (_lock)
        {
            FirstTokens++;
        }
    }

    public void NextToken(string model, TimeSpan interTokenLatency)
    {
        int count;
        lock (_lock)
        {
            count = ++NextTokens;
        }

        OnNextToken?.Invoke(count);
    }

    public void SequenceEnded(string model, string protocol, FinishReason reason, GenerationUsage usage, TimeSpan p95InterTokenLatency)
    {
        lock (_lock)
        {
            Ended.Add((reason, usage));
        }
    }

    public void StepExecuted(in GenerationStep step)
    {
        lock (_lock)
        {
            Steps.Add(step);
        }
    }

    public GenerationStep[] StepsSnapshot()
    {
        lock (_lock)
        {
            return [.. Steps];
        }
    }
}
