using System.Diagnostics;
using System.Globalization;
using HdrHistogram;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sluice.Core.Generation;
using Sluice.Engine.Generation;
using Sluice.Engine.Hosting;
using Sluice.Engine.Repository;
using Sluice.Onnx.Runtime;

/// <summary>The same closed-loop workload against the generation engine in this process: no HTTP, no JSON, no SSE.</summary>
internal static class InProcess
{
    public static async Task<int> RunAsync(int[] levels, double seconds, int promptLength, int maxTokens, string model, int vocab, string repository, string device)
    {
        if (repository.Length == 0)
        {
            repository = Directory.CreateTempSubdirectory("sluice-llmbench-").FullName;
            DemoRepository.WriteTinyLlama(repository);
        }

        var manager = new GenerationManager(Options.Create(new ModelRepositoryOptions { RepositoryPath = repository, Device = device }),
            [new OnnxModelBackend()], [], NullLogger<GenerationManager>.Instance, new OnnxSlotDecoderRunnerFactory());
        await manager.StartAsync(CancellationToken.None);
        try
        {
            Console.WriteLine($"# in-process engine, {Environment.ProcessorCount} cores; model {model}; prompt {promptLength} tokens, max_tokens {maxTokens}, ignore_eos, greedy; {seconds} s per level");
            await Task.WhenAll(Enumerable.Range(0, 4).Select(i => OneAsync(manager, model, Prompt(new Random(i), promptLength, vocab), maxTokens)));
            Console.WriteLine("| concurrency | requests | output tok/s | speedup vs c1 | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|");
            double? baseline = null;
            foreach (var concurrency in levels)
            {
                var ttft = new LongHistogram(TimeStamp.Seconds(600), 3);
                var itl = new LongHistogram(TimeStamp.Seconds(600), 3);
                var gate = new object();
                long tokens = 0;
                var requests = 0;
                var started = Stopwatch.GetTimestamp();
                var deadline = started + (long)(seconds * Stopwatch.Frequency);
                await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async c =>
                {
                    var random = new Random(1000 + c);
                    while (Stopwatch.GetTimestamp() < deadline)
                    {
                        var usage = await OneAsync(manager, model, Prompt(random, promptLength, vocab), maxTokens);
                        lock (gate)
                        {
                            tokens += usage.CompletionTokens;
                            requests++;
                            ttft.RecordValue((long)usage.TimeToFirstToken.TotalMicroseconds);
                            itl.RecordValue((long)usage.MeanInterTokenLatency.TotalMicroseconds);
                        }
                    }
                }));
                var rate = tokens / Stopwatch.GetElapsedTime(started).TotalSeconds;
                baseline ??= rate;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {concurrency} | {requests} | {rate:F0} | {rate / baseline.Value:F2}x | {Ms(ttft, 50)} | {Ms(ttft, 99)} | {Ms(itl, 50)} | {Ms(itl, 99)} |"));
            }
        }
        finally
        {
            await manager.StopAsync(CancellationToken.None);
        }

        return 0;
    }

    private static string Ms(LongHistogram histogram, double percentile) =>
        (histogram.GetValueAtPercentile(percentile) / 1000.0).ToString("F2", CultureInfo.InvariantCulture) + " ms";

    private static int[] Prompt(Random random, int length, int vocab) => Enumerable.Range(0, length).Select(_ => random.Next(0, vocab - 1)).ToArray();

    private static async Task<GenerationUsage> OneAsync(GenerationManager manager, string model, int[] prompt, int maxTokens)
    {
        await using var handle = manager.Start(new GenerationRequest(model, prompt, new SamplingParameters(MaxTokens: maxTokens, Temperature: 0f, IgnoreEos: true)), default);
        GenerationUsage? usage = null;
        await foreach (var update in handle.Updates())
        {
            usage = update.Usage ?? usage;
        }

        return usage!;
    }
}
