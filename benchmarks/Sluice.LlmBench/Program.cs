// Generation throughput and token latencies of the real server, measured over its OpenAI streaming API.
//
//   dotnet run -c Release --project benchmarks/Sluice.LlmBench -- [--concurrency 1,8,32] [--seconds 10] [--prompt 64]
//       [--max-tokens 64] [--model tiny-llama] [--repository DIR] [--url http://host:port] [--device cpu|cuda]
//
// Without --url it starts `sluice serve` as a child process on loopback over --repository (default: a temporary demo
// repository holding tiny-llama). Each concurrency level runs closed-loop for --seconds: every client sends a streaming
// /v1/completions request with a random --prompt-token prompt and max_tokens --max-tokens (ignore_eos, greedy), waits for
// [DONE], and sends the next. Output tokens/s counts completion tokens (from usage) of requests finished in the window;
// TTFT is send to first token chunk; ITL is the gap between consecutive token chunks. Concurrency 1 is one-at-a-time
// generation, so "speedup" is continuous batching's gain over it.

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using HdrHistogram;
using Sluice.Benchmarks.Shared;
using Sluice.Engine.Repository;

string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("usage: Sluice.LlmBench [--concurrency 1,8,32] [--seconds 10] [--prompt 64] [--max-tokens 64] [--model tiny-llama] [--repository DIR] [--url URL] [--device cpu|cuda] [--vocab 50257] [--json FILE] [--in-process]");
    Console.WriteLine("  --in-process  drive the generation engine directly (no HTTP): the engine's own figures, to compare with the server's");
    return 0;
}

var levels = Arg("--concurrency", "1,8,32").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
var seconds = double.Parse(Arg("--seconds", "10"), CultureInfo.InvariantCulture);
var promptLength = int.Parse(Arg("--prompt", "64"), CultureInfo.InvariantCulture);
var maxTokens = int.Parse(Arg("--max-tokens", "64"), CultureInfo.InvariantCulture);
var model = Arg("--model", DemoRepository.DecoderModelName);
var vocab = int.Parse(Arg("--vocab", "50257"), CultureInfo.InvariantCulture);
var url = Arg("--url", "");
var jsonOut = Arg("--json", "");
var inProcess = args.Contains("--in-process");

if (inProcess)
{
    return await InProcess.RunAsync(levels, seconds, promptLength, maxTokens, model, vocab, Arg("--repository", ""), Arg("--device", "cpu"));
}

Process? server = null;
if (url.Length == 0)
{
    var repository = Arg("--repository", "");
    if (repository.Length == 0)
    {
        repository = Directory.CreateTempSubdirectory("sluice-llmbench-").FullName;
        DemoRepository.WriteTinyLlama(repository);
    }

    var port = BenchHost.FreePort();
    url = $"http://127.0.0.1:{port}";
    server = BenchHost.StartSluice("--model-repository", repository, "--http-port", port.ToString(CultureInfo.InvariantCulture),
        "--grpc-port", "0", "--metrics-port", "0", "--address", "127.0.0.1", "--device", Arg("--device", "cpu"));
}

try
{
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, PooledConnectionLifetime = TimeSpan.FromMinutes(30) })
    {
        BaseAddress = new Uri(url),
        Timeout = TimeSpan.FromMinutes(10),
    };
    await BenchHost.WaitForAsync(new Uri(http.BaseAddress!, $"v1/models/{model}").ToString(), TimeSpan.FromSeconds(300), server);
    Console.WriteLine($"# machine: {Environment.ProcessorCount} cores, {BenchHost.CpuName()}; model {model}; prompt {promptLength} tokens, max_tokens {maxTokens}, ignore_eos, greedy; {seconds} s per level");

    // Warm up: a few sequences so first-call costs stay out of the figures.
    await Task.WhenAll(Enumerable.Range(0, 4).Select(i => OneAsync(http, model, Prompt(new Random(i), promptLength, vocab), maxTokens)));

    var results = new List<LevelResult>();
    Console.WriteLine("| concurrency | requests | output tok/s | speedup vs c1 | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 | e2e p50 |");
    Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
    foreach (var concurrency in levels)
    {
        var result = await RunLevelAsync(http, model, concurrency, seconds, promptLength, maxTokens, vocab);
        results.Add(result);
        var baseline = results[0].TokensPerSecond;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {concurrency} | {result.Requests} | {result.TokensPerSecond:F0} | {result.TokensPerSecond / baseline:F2}x | {Ms(result.Ttft, 50)} | {Ms(result.Ttft, 99)} | {Ms(result.Itl, 50)} | {Ms(result.Itl, 99)} | {Ms(result.EndToEnd, 50)} |"));
    }

    if (jsonOut.Length > 0)
    {
        File.WriteAllText(jsonOut, JsonSerializer.Serialize(results.Select(r => new
        {
            r.Concurrency, r.Requests, r.TokensPerSecond,
            ttft_p50_ms = r.Ttft.GetValueAtPercentile(50) / 1000.0, ttft_p99_ms = r.Ttft.GetValueAtPercentile(99) / 1000.0,
            itl_p50_ms = r.Itl.GetValueAtPercentile(50) / 1000.0, itl_p99_ms = r.Itl.GetValueAtPercentile(99) / 1000.0,
            e2e_p50_ms = r.EndToEnd.GetValueAtPercentile(50) / 1000.0,
        })));
    }
}
finally
{
    if (server is { HasExited: false })
    {
        server.Kill(entireProcessTree: true);
    }
}

return 0;

static string Ms(LongHistogram histogram, double percentile) =>
    (histogram.GetValueAtPercentile(percentile) / 1000.0).ToString("F2", CultureInfo.InvariantCulture) + " ms";

static int[] Prompt(Random random, int length, int vocab) => Enumerable.Range(0, length).Select(_ => random.Next(0, vocab - 1)).ToArray();

static async Task<LevelResult> RunLevelAsync(HttpClient http, string model, int concurrency, double seconds, int promptLength, int maxTokens, int vocab)
{
    var ttft = new LongHistogram(TimeStamp.Seconds(600), 3);
    var itl = new LongHistogram(TimeStamp.Seconds(600), 3);
    var e2e = new LongHistogram(TimeStamp.Seconds(600), 3);
    var gate = new object();
    long tokens = 0;
    var requests = 0;
    var started = Stopwatch.GetTimestamp();
    var deadline = started + (long)(seconds * Stopwatch.Frequency);
    var clients = Enumerable.Range(0, concurrency).Select(async c =>
    {
        var random = new Random(1000 + c);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            var sample = await OneAsync(http, model, Prompt(random, promptLength, vocab), maxTokens);
            lock (gate)
            {
                tokens += sample.CompletionTokens;
                requests++;
                ttft.RecordValue(sample.TtftMicros);
                e2e.RecordValue(sample.EndToEndMicros);
                foreach (var gap in sample.GapsMicros)
                {
                    itl.RecordValue(gap);
                }
            }
        }
    }).ToArray();
    await Task.WhenAll(clients);
    var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;   // closed loop: the last requests end after the deadline
    return new LevelResult(concurrency, requests, tokens / elapsed, ttft, itl, e2e);
}

static async Task<Sample> OneAsync(HttpClient http, string model, int[] prompt, int maxTokens)
{
    var body = JsonSerializer.Serialize(new
    {
        model, prompt, max_tokens = maxTokens, temperature = 0, ignore_eos = true, stream = true,
        stream_options = new { include_usage = true },
    });
    using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
    var sent = Stopwatch.GetTimestamp();
    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    if (!response.IsSuccessStatusCode)
    {
        throw new HttpRequestException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    await using var stream = await response.Content.ReadAsStreamAsync();
    using var reader = new StreamReader(stream, Encoding.UTF8);
    long first = 0, last = 0;
    var gaps = new List<long>(maxTokens);
    var completionTokens = 0;
    while (await reader.ReadLineAsync() is { } line)
    {
        if (!line.StartsWith("data: ", StringComparison.Ordinal))
        {
            continue;
        }

        var data = line.AsSpan(6);
        if (data.SequenceEqual("[DONE]"))
        {
            break;
        }

        var now = Stopwatch.GetTimestamp();
        if (data.Contains("\"usage\":{", StringComparison.Ordinal))
        {
            // The usage chunk (stream_options.include_usage): its choices are empty. Only it is parsed, so the client
            // spends little CPU per token on a machine it shares with the server.
            using var chunk = JsonDocument.Parse(data.ToString());
            completionTokens = chunk.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
            if (chunk.RootElement.GetProperty("choices").GetArrayLength() == 0)
            {
                continue;
            }
        }

        // One chunk per generated token.
        if (first == 0)
        {
            first = now;
        }
        else
        {
            gaps.Add((long)Stopwatch.GetElapsedTime(last, now).TotalMicroseconds);
        }

        last = now;
    }

    var end = Stopwatch.GetTimestamp();
    return new Sample((long)Stopwatch.GetElapsedTime(sent, first).TotalMicroseconds, (long)Stopwatch.GetElapsedTime(sent, end).TotalMicroseconds, gaps, completionTokens);
}

internal sealed record Sample(long TtftMicros, long EndToEndMicros, List<long> GapsMicros, int CompletionTokens);

internal sealed record LevelResult(int Concurrency, int Requests, double TokensPerSecond, LongHistogram Ttft, LongHistogram Itl, LongHistogram EndToEnd);
