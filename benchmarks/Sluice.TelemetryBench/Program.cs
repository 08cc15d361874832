// Telemetry's two figures, on the demo MiniLM model, against the real `sluice serve` as child processes on loopback:
//
//   dotnet run -c Release --project benchmarks/Sluice.TelemetryBench -- overhead [--seq 16] [--concurrency 8] [--rounds 6] [--seconds 5]
//   dotnet run -c Release --project benchmarks/Sluice.TelemetryBench -- fidelity [--seq 128] [--rounds 6] [--requests 40]
//
// overhead: two servers, one with all telemetry on (metrics port scraped every second, as Prometheus would) and one started
//   with --no-telemetry; closed-loop clients at the given concurrency; rounds alternate on, off, on, off... so drift on a shared
//   machine hits both alike. Reports throughput and client-side p50/p99 per variant (median over rounds) and the differences.
// fidelity: one server (telemetry on); each round alternates a request with Sluice-Timing: true (reading the server's
//   Sluice-Compute-Infer-Us header) and a Run of the same [1, seq] batch on a bare in-process ONNX Runtime session with the
//   server's default options. Reports p50 of both (median over rounds) and their ratio.

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.ML.OnnxRuntime;
using Sluice.Benchmarks.Shared;
using Sluice.Engine.Repository;

var mode = args.FirstOrDefault() ?? "overhead";
int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

var repository = Path.Combine(Path.GetTempPath(), "sluice-telemetry-bench-repo");
var modelPath = DemoRepository.EnsureWritten(repository);
Console.WriteLine($"# machine: {Environment.ProcessorCount} cores, {BenchHost.CpuName()}, load average {LoadAverage()}; ONNX Runtime {OrtEnv.Instance().GetVersionString()}");
switch (mode)
{
    case "overhead":
        await OverheadAsync(repository, Arg("--seq", 16), Arg("--concurrency", 8), Arg("--rounds", 6), Arg("--seconds", 5));
        break;
    case "micro":
        await MicroAsync(repository, Arg("--iterations", 200_000));
        break;
    case "fidelity":
        await FidelityAsync(repository, modelPath, Arg("--seq", 128), Arg("--rounds", 6), Arg("--requests", 40));
        break;
    default:
        Console.Error.WriteLine($"unknown mode '{mode}': use overhead, micro or fidelity");
        return 2;
}

Console.WriteLine($"# load average after: {LoadAverage()}");
return 0;

static async Task OverheadAsync(string repository, int seq, int concurrency, int rounds, int seconds)
{
    var on = new Server(repository, telemetry: true);
    var off = new Server(repository, telemetry: false);
    try
    {
        await Task.WhenAll(on.WaitReadyAsync(), off.WaitReadyAsync());
        var body = Request(seq);
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency * 2 }) { Timeout = TimeSpan.FromSeconds(60) };

        // Warm both (JIT, ONNX Runtime arenas, connections).
        await LoadAsync(client, on.HttpPort, body, concurrency, TimeSpan.FromSeconds(2), scrapePort: null);
        await LoadAsync(client, off.HttpPort, body, concurrency, TimeSpan.FromSeconds(2), scrapePort: null);

        var results = new Dictionary<string, List<RoundResult>> { ["on"] = [], ["off"] = [] };
        for (var round = 0; round < rounds; round++)
        {
            // Alternate which goes first within the pair too: on/off, off/on, ...
            foreach (var variant in round % 2 == 0 ? (string[])["on", "off"] : ["off", "on"])
            {
                var server = variant == "on" ? on : off;
                var result = await LoadAsync(client, server.HttpPort, body, concurrency, TimeSpan.FromSeconds(seconds), variant == "on" ? on.MetricsPort : null);
                results[variant].Add(result);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round + 1} {variant,-3}: {result.Throughput,8:F1} req/s  p50 {result.P50Ms,6:F2} ms  p99 {result.P99Ms,6:F2} ms  ({result.Requests} requests, {result.Errors} errors)"));
            }
        }

        var onThroughput = Median(results["on"].Select(r => r.Throughput));
        var offThroughput = Median(results["off"].Select(r => r.Throughput));
        var onP50 = Median(results["on"].Select(r => r.P50Ms));
        var offP50 = Median(results["off"].Select(r => r.P50Ms));
        var onP99 = Median(results["on"].Select(r => r.P99Ms));
        var offP99 = Median(results["off"].Select(r => r.P99Ms));
        Console.WriteLine();
        Console.WriteLine($"MiniLM seq {seq}, HTTP JSON, concurrency {concurrency}, {rounds} alternating rounds of {seconds} s (median over rounds)");
        Console.WriteLine("| telemetry | throughput (req/s) | p50 (ms) | p99 (ms) |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| on (metrics scraped 1/s, spans, recent inputs) | {onThroughput:F1} | {onP50:F2} | {onP99:F2} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| off (--no-telemetry) | {offThroughput:F1} | {offP50:F2} | {offP99:F2} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| on vs off (medians) | {100 * (onThroughput / offThroughput - 1):+0.0;-0.0}% | {100 * (onP50 / offP50 - 1):+0.0;-0.0}% | {100 * (onP99 / offP99 - 1):+0.0;-0.0}% |"));
        var pairThroughput = Median(results["on"].Zip(results["off"], static (a, b) => a.Throughput / b.Throughput));
        var pairP50 = Median(results["on"].Zip(results["off"], static (a, b) => a.P50Ms / b.P50Ms));
        var pairP99 = Median(results["on"].Zip(results["off"], static (a, b) => a.P99Ms / b.P99Ms));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| on vs off (median of {rounds} adjacent-pair ratios) | {100 * (pairThroughput - 1):+0.0;-0.0}% | {100 * (pairP50 - 1):+0.0;-0.0}% | {100 * (pairP99 - 1):+0.0;-0.0}% |"));
    }
    finally
    {
        on.Dispose();
        off.Dispose();
    }
}

// micro: the per-request cost of telemetry itself, measured in-process where machine noise cannot hide it: the real host
//   (telemetry on, OpenTelemetry SDK aggregating) is started, and the observers the endpoints call once per request and the
//   engine once per batch are called directly with realistic timestamps; then one /metrics scrape is timed.
static async Task MicroAsync(string repository, int iterations)
{
    var data = Directory.CreateTempSubdirectory("sluice-telemetry-bench-data-");
    var app = Sluice.Server.Hosting.SluiceApplication.Build(
        new Sluice.Server.Hosting.SluiceServerOptions { ListenAddress = "127.0.0.1", HttpPort = 0, GrpcPort = 0, MetricsPort = 0, DataDirectory = data.FullName },
        options => options.RepositoryPath = repository, ["--Logging:LogLevel:Default=Warning"]);
    await app.StartAsync();
    try
    {
        var addresses = Sluice.Server.Hosting.SluiceApplication.GetAddresses(app);
        using var http = new HttpClient();
        while (!(await http.GetAsync(new Uri(addresses.Http, "v2/models/minilm/ready"))).IsSuccessStatusCode)
        {
            await Task.Delay(100);
        }

        var services = app.Services;
        var requestSide = (Sluice.Server.Telemetry.InferenceObservers)services.GetService(typeof(Sluice.Server.Telemetry.InferenceObservers))!;
        var batchSide = ((IEnumerable<Sluice.Core.Serving.IInferenceObserver>)services.GetService(typeof(IEnumerable<Sluice.Core.Serving.IInferenceObserver>))!).ToArray();
        var names = string.Join(", ", batchSide.Select(o => o.GetType().Name));
        var tick = Stopwatch.Frequency / 1_000_000;   // one microsecond in timestamp ticks
        Sluice.Core.Inference.RequestTimestamps Stamps()
        {
            var t = Stopwatch.GetTimestamp() - 20_000 * tick;
            return new() { Received = t, Queued = t + 300 * tick, BatchStart = t + 1_300 * tick, ComputeInputEnd = t + 1_350 * tick,
                ComputeInferEnd = t + 16_000 * tick, ComputeOutputEnd = t + 16_200 * tick, ResponseSent = t + 17_000 * tick, BatchSize = 4 };
        }

        var batch = new Sluice.Core.Serving.BatchExecution("minilm", "1", 4, 8, false, false,
            TimeSpan.FromMicroseconds(50), TimeSpan.FromMilliseconds(15), TimeSpan.FromMicroseconds(200));
        for (var i = 0; i < 10_000; i++)
        {
            requestSide.RequestCompleted("minilm", "1", "http", Sluice.Core.Inference.InferenceError.None, Stamps());
        }

        var stamps = Enumerable.Range(0, iterations).Select(_ => Stamps()).ToArray();
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < iterations; i++)
        {
            requestSide.RequestCompleted("minilm", "1", "http", Sluice.Core.Inference.InferenceError.None, stamps[i]);
        }

        var perRequest = Stopwatch.GetElapsedTime(started).TotalNanoseconds / iterations;
        started = Stopwatch.GetTimestamp();
        for (var i = 0; i < iterations; i++)
        {
            foreach (var observer in batchSide)
            {
                observer.BatchExecuted(in batch);
            }
        }

        var perBatch = Stopwatch.GetElapsedTime(started).TotalNanoseconds / iterations;
        var scrapeStarted = Stopwatch.GetTimestamp();
        var text = await http.GetStringAsync(new Uri(addresses.Metrics!, "metrics"));
        var scrape = Stopwatch.GetElapsedTime(scrapeStarted).TotalMilliseconds;
        Console.WriteLine($"observers registered: {names}");
        Console.WriteLine("| cost | value |");
        Console.WriteLine("|---|---|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| per finished request (all observers: counters, 5 histograms, span check, SLO) | {perRequest:F0} ns |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| per executed batch (all observers) | {perBatch:F0} ns |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| one /metrics scrape ({text.Length / 1024.0:F0} KiB) | {scrape:F1} ms |"));
    }
    finally
    {
        await app.StopAsync();
        await app.DisposeAsync();
        data.Delete(recursive: true);
    }
}

static async Task<RoundResult> LoadAsync(HttpClient client, int port, string body, int concurrency, TimeSpan duration, int? scrapePort)
{
    var url = $"http://127.0.0.1:{port}/v2/models/minilm/infer";
    var latencies = new List<double>[concurrency];
    var errors = 0;
    var stop = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
    using var scrapeStop = new CancellationTokenSource();
    var scraper = scrapePort is { } metricsPort ? ScrapeEverySecondAsync(client, metricsPort, scrapeStop.Token) : Task.CompletedTask;
    var started = Stopwatch.GetTimestamp();
    var workers = Enumerable.Range(0, concurrency).Select(w => Task.Run(async () =>
    {
        var mine = latencies[w] = [];
        while (Stopwatch.GetTimestamp() < stop)
        {
            var t0 = Stopwatch.GetTimestamp();
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await client.PostAsync(url, content);
            await response.Content.LoadIntoBufferAsync();
            if (response.StatusCode == HttpStatusCode.OK)
            {
                mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            else
            {
                Interlocked.Increment(ref errors);
            }
        }
    })).ToArray();
    await Task.WhenAll(workers);
    var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
    await scrapeStop.CancelAsync();
    await scraper;
    var all = latencies.SelectMany(l => l).Order().ToList();
    return new RoundResult(all.Count / elapsed, Percentile(all, 0.5), Percentile(all, 0.99), all.Count, errors);
}

static async Task ScrapeEverySecondAsync(HttpClient client, int port, CancellationToken cancellationToken)
{
    try
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            using var response = await client.GetAsync($"http://127.0.0.1:{port}/metrics", cancellationToken);
            await response.Content.LoadIntoBufferAsync(cancellationToken);
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        }
    }
    catch (OperationCanceledException)
    {
    }
}

static async Task FidelityAsync(string repository, string modelPath, int seq, int rounds, int requests)
{
    var server = new Server(repository, telemetry: true);
    try
    {
        await server.WaitReadyAsync();
        using var bare = new BareSession(modelPath, seq);
        var body = Request(seq);
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var url = $"http://127.0.0.1:{server.HttpPort}/v2/models/minilm/infer";
        async Task<double> ServerComputeInferAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Add("Sluice-Timing", "true");
            using var response = await client.SendAsync(request);
            response.EnsureSuccessStatusCode();
            return double.Parse(response.Headers.GetValues("Sluice-Compute-Infer-Us").Single(), CultureInfo.InvariantCulture);
        }

        for (var i = 0; i < 10; i++)
        {
            await ServerComputeInferAsync();
            bare.Run();
        }

        var serverP50s = new List<double>();
        var bareP50s = new List<double>();
        var pairRatios = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            // Interleaved one by one, so both see the same moment's machine; a short pause after each lets the other side's
            // ONNX Runtime threads stop spinning before the next measurement.
            var reported = new List<double>();
            var measured = new List<double>();
            for (var i = 0; i < requests; i++)
            {
                reported.Add(await ServerComputeInferAsync());
                Thread.Sleep(5);
                measured.Add(bare.Run());
                Thread.Sleep(5);
                pairRatios.Add(reported[^1] / measured[^1]);
            }

            reported.Sort();
            measured.Sort();
            serverP50s.Add(Percentile(reported, 0.5));
            bareP50s.Add(Percentile(measured, 0.5));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round + 1}: server compute_infer p50 {serverP50s[^1] / 1000:F3} ms, bare Run p50 {bareP50s[^1] / 1000:F3} ms"));
        }

        var s = Median(serverP50s);
        var b = Median(bareP50s);
        Console.WriteLine();
        Console.WriteLine($"MiniLM batch 1 x seq {seq}, {rounds} rounds of {requests} requests interleaved with {requests} bare Runs (median of round p50s)");
        Console.WriteLine("| measurement | p50 (ms) |");
        Console.WriteLine("|---|---|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| server-reported compute_infer (Sluice-Compute-Infer-Us) | {s / 1000:F3} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| bare in-process InferenceSession.Run, same batch | {b / 1000:F3} |"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| reported / bare (medians) | {s / b:F3} ({100 * (s / b - 1):+0.0;-0.0}%) |"));
        var pair = Median(pairRatios);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| reported / bare, median of {pairRatios.Count} adjacent pairs (robust to load drift) | {pair:F3} ({100 * (pair - 1):+0.0;-0.0}%) |"));
    }
    finally
    {
        server.Dispose();
    }
}

static string Request(int seq)
{
    var ids = string.Join(",", Enumerable.Range(0, seq).Select(i => i == 0 ? 101 : i == seq - 1 ? 102 : 1000 + (i * 37 % 20000)));
    var ones = string.Join(",", Enumerable.Repeat(1, seq));
    var zeros = string.Join(",", Enumerable.Repeat(0, seq));
    return $$"""
        {"inputs":[
          {"name":"input_ids","shape":[1,{{seq}}],"datatype":"INT64","data":[{{ids}}]},
          {"name":"attention_mask","shape":[1,{{seq}}],"datatype":"INT64","data":[{{ones}}]},
          {"name":"token_type_ids","shape":[1,{{seq}}],"datatype":"INT64","data":[{{zeros}}]}]}
        """;
}

static double Percentile(List<double> sorted, double q) =>
    sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

internal readonly record struct RoundResult(double Throughput, double P50Ms, double P99Ms, int Requests, int Errors);

/// <summary>A real <c>sluice serve</c> child process on loopback ports.</summary>
internal sealed class Server : IDisposable
{
    private readonly Process _process;

    public Server(string repository, bool telemetry)
    {
        HttpPort = BenchHost.FreePort();
        GrpcPort = BenchHost.FreePort();
        MetricsPort = BenchHost.FreePort();
        List<string> arguments =
        [
            "--model-repository", repository, "--address", "127.0.0.1",
            "--http-port", HttpPort.ToString(CultureInfo.InvariantCulture), "--grpc-port", GrpcPort.ToString(CultureInfo.InvariantCulture),
            "--metrics-port", MetricsPort.ToString(CultureInfo.InvariantCulture),
            "--data-dir", Path.Combine(Path.GetTempPath(), $"sluice-telemetry-bench-data-{HttpPort}"),
        ];
        if (!telemetry)
        {
            arguments.Add("--no-telemetry");
        }

        _process = BenchHost.StartSluice([.. arguments]);
    }

    public int HttpPort { get; }
    public int GrpcPort { get; }
    public int MetricsPort { get; }

    public Task WaitReadyAsync() =>
        BenchHost.WaitForAsync($"http://127.0.0.1:{HttpPort}/v2/models/minilm/ready", TimeSpan.FromSeconds(180), _process);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }
}

/// <summary>The baseline: one ONNX Runtime session with the server's default options; times Run alone, as the server does.</summary>
internal sealed class BareSession : IDisposable
{
    private readonly SessionOptions _options = new() { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly OrtValue[] _inputs;
    private readonly string[] _names = ["input_ids", "attention_mask", "token_type_ids"];
    private readonly string[] _outputs = ["last_hidden_state"];

    public BareSession(string modelPath, int seq)
    {
        _session = new InferenceSession(modelPath, _options);
        long[] shape = [1, seq];
        var ids = Enumerable.Range(0, seq).Select(i => (long)(i == 0 ? 101 : i == seq - 1 ? 102 : 1000 + (i * 37 % 20000))).ToArray();
        _inputs =
        [
            OrtValue.CreateTensorValueFromMemory(ids, shape),
            OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, seq).ToArray(), shape),
            OrtValue.CreateTensorValueFromMemory(new long[seq], shape),
        ];
    }

    /// <summary>One Run; its duration in microseconds.</summary>
    public double Run()
    {
        var t0 = Stopwatch.GetTimestamp();
        using var outputs = _session.Run(_runOptions, _names, _inputs, _outputs);
        return Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
    }

    public void Dispose()
    {
        foreach (var input in _inputs)
        {
            input.Dispose();
        }

        _runOptions.Dispose();
        _session.Dispose();
        _options.Dispose();
    }
}
