// Side-by-side benchmark of the serving core against a bare in-process ONNX Runtime session, on the demo MiniLM model.
//
//   dotnet run -c Release --project benchmarks/Sluice.Benchmarks -- latency    [--seq 128] [--rounds 30] [--requests 10]
//   dotnet run -c Release --project benchmarks/Sluice.Benchmarks -- throughput [--seq 8] [--concurrency 16] [--rounds 5] [--seconds 4]
//
// The server runs as a child process (the real `sluice serve`) on loopback ports; the bare session runs in this process
// while the server idles. Rounds alternate between the paths (bare, HTTP binary, gRPC, bare, ...) so drift on a shared
// machine hits every path alike; each figure is the median over rounds.

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using Grpc.Net.Client;
using Microsoft.ML.OnnxRuntime;
using Sluice.Engine.Repository;
using Sluice.Server.Grpc.Protocol;

var mode = args.FirstOrDefault() ?? "latency";
int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

var repository = Path.Combine(Path.GetTempPath(), "sluice-bench-repo");
var modelPath = DemoRepository.EnsureWritten(repository);

var httpPort = FreePort();
var grpcPort = FreePort();
using var server = StartServer(repository, httpPort, grpcPort);
try
{
    await WaitReadyAsync(httpPort);
    Console.WriteLine($"# machine: {Environment.ProcessorCount} cores, {CpuName()}; ONNX Runtime {OrtEnv.Instance().GetVersionString()}");
    switch (mode)
    {
        case "latency":
            await LatencyAsync(modelPath, Arg("--seq", 128), Arg("--rounds", 30), Arg("--requests", 10), httpPort, grpcPort);
            break;
        case "throughput":
            await ThroughputAsync(modelPath, Arg("--seq", 8), Arg("--concurrency", 16), Arg("--rounds", 5), Arg("--seconds", 4), httpPort, grpcPort);
            break;
        default:
            Console.Error.WriteLine($"unknown mode '{mode}': use latency or throughput");
            return 2;
    }
}
finally
{
    if (!server.HasExited)
    {
        server.Kill(entireProcessTree: true);
    }
}

return 0;

static async Task LatencyAsync(string modelPath, int seq, int rounds, int requests, int httpPort, int grpcPort)
{
    var ids = TokenIds(batch: 1, seq, seed: 1);
    using var bare = new BareSession(modelPath);
    using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
    using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}", GrpcOptions());
    var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
    var httpBody = BinaryInferBody(ids, 1, seq);
    var grpcRequest = GrpcInferRequest(ids, 1, seq);

    // Warm every path (JIT, connection, ORT arena) before measuring.
    for (var i = 0; i < 10; i++)
    {
        bare.Run(ids, 1, seq);
        await HttpInferAsync(http, httpBody);
        await grpc.ModelInferAsync(grpcRequest);
    }

    // Paths take turns in short blocks (bare, http, grpc; the order rotates every round), so drift on a shared machine —
    // which on these hosts comes in steps of a few seconds — falls on every path alike. Blocks rather than single requests:
    // after a run, ONNX Runtime's intra-op threads spin for a while, and on two cores the bare session's spinning threads
    // (in this process) would slow the server's next request, and the server's the next bare run; each block starts with a
    // few unmeasured calls so the previous path's threads are asleep when its samples start. Percentiles are over all of a
    // path's samples; the paired ratio is the median over rounds of (path's block p50 / bare's block p50 of the same round).
    Func<Task>[] calls =
    [
        () => { bare.Run(ids, 1, seq); return Task.CompletedTask; },
        () => HttpInferAsync(http, httpBody),
        async () => await grpc.ModelInferAsync(grpcRequest),
    ];
    string[] names = ["bare", "http", "grpc"];
    const int unmeasured = 3;
    var all = names.Select(_ => new List<double>()).ToArray();
    var ratios = names.Select(_ => new List<double>()).ToArray();
    for (var round = 0; round < rounds; round++)
    {
        var blockP50 = new double[calls.Length];
        for (var turn = 0; turn < calls.Length; turn++)
        {
            var path = (turn + round) % calls.Length;
            var block = new double[requests];
            for (var i = -unmeasured; i < requests; i++)
            {
                var start = Stopwatch.GetTimestamp();
                await calls[path]();
                if (i >= 0)
                {
                    block[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
            }

            all[path].AddRange(block);
            Array.Sort(block);
            blockP50[path] = Percentile(block, 0.50);
        }

        for (var path = 0; path < calls.Length; path++)
        {
            ratios[path].Add(blockP50[path] / blockP50[0]);
        }
    }

    Console.WriteLine($"# latency: MiniLM batch 1, seq {seq}, concurrency 1, {rounds} rounds x {requests} requests per path, paths in rotating blocks");
    Console.WriteLine("| path | p50 ms | p99 ms | p50 / bare (all samples) | p50 / bare (median of paired rounds) |");
    Console.WriteLine("|---|---|---|---|---|");
    var sorted = all.Select(values => values.Order().ToArray()).ToArray();
    var bareP50 = Percentile(sorted[0], 0.50);
    for (var path = 0; path < calls.Length; path++)
    {
        var pathP50 = Percentile(sorted[path], 0.50);
        Console.WriteLine($"| {names[path]} | {pathP50:F2} | {Percentile(sorted[path], 0.99):F2} | {pathP50 / bareP50:F3}x | {Median(ratios[path]):F3}x |");
    }
}

static async Task ThroughputAsync(string modelPath, int seq, int concurrency, int rounds, int seconds, int httpPort, int grpcPort)
{
    using var bare = new BareSession(modelPath);
    var single = TokenIds(1, seq, seed: 2);
    var batched = TokenIds(concurrency, seq, seed: 3);
    using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency * 2 };
    using var http = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
    using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}", GrpcOptions());
    var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
    var httpBody = BinaryInferBody(single, 1, seq);
    var grpcRequest = GrpcInferRequest(single, 1, seq);

    for (var i = 0; i < 20; i++)
    {
        bare.Run(single, 1, seq);
        bare.Run(batched, concurrency, seq);
        await HttpInferAsync(http, httpBody);
        await grpc.ModelInferAsync(grpcRequest);
    }

    // Warm the concurrent paths too: the first batches of each new size pay ONNX Runtime's per-shape planning and the JIT's
    // first calls, which would otherwise land in the first round.
    await ClosedLoopAsync(concurrency, TimeSpan.FromSeconds(2), () => HttpInferAsync(http, httpBody));
    await ClosedLoopAsync(concurrency, TimeSpan.FromSeconds(2), async () => await grpc.ModelInferAsync(grpcRequest));

    var results = new Dictionary<string, List<double>>
    {
        ["bare batch 1"] = [], [$"bare batch {concurrency}"] = [], [$"http binary, concurrency {concurrency}"] = [],
        [$"grpc, concurrency {concurrency}"] = [],
    };
    var window = TimeSpan.FromSeconds(seconds);
    for (var round = 0; round < rounds; round++)
    {
        results["bare batch 1"].Add(BareItemsPerSecond(bare, single, 1, seq, window));
        results[$"bare batch {concurrency}"].Add(BareItemsPerSecond(bare, batched, concurrency, seq, window));
        results[$"http binary, concurrency {concurrency}"].Add(await ClosedLoopAsync(concurrency, window, () => HttpInferAsync(http, httpBody)));
        results[$"grpc, concurrency {concurrency}"].Add(await ClosedLoopAsync(concurrency, window, async () => await grpc.ModelInferAsync(grpcRequest)));
    }

    Console.WriteLine($"# throughput: MiniLM seq {seq}, {rounds} rounds x {seconds} s per path");
    Console.WriteLine($"| path | inferences/s (median of rounds) | vs bare batch {concurrency} |");
    Console.WriteLine("|---|---|---|");
    var limit = Median(results[$"bare batch {concurrency}"]);
    foreach (var (path, values) in results)
    {
        Console.WriteLine($"| {path} | {Median(values):F1} | {Median(values) / limit:P1} |");
    }
}

static double BareItemsPerSecond(BareSession bare, long[] ids, int batch, int seq, TimeSpan window)
{
    var runs = 0;
    var start = Stopwatch.GetTimestamp();
    while (Stopwatch.GetElapsedTime(start) < window)
    {
        bare.Run(ids, batch, seq);
        runs++;
    }

    return runs * batch / Stopwatch.GetElapsedTime(start).TotalSeconds;
}

static async Task<double> ClosedLoopAsync(int concurrency, TimeSpan window, Func<Task> call)
{
    long completed = 0;
    var start = Stopwatch.GetTimestamp();
    var workers = Enumerable.Range(0, concurrency).Select(async _ =>
    {
        while (Stopwatch.GetElapsedTime(start) < window)
        {
            await call();
            Interlocked.Increment(ref completed);
        }
    });
    await Task.WhenAll(workers);
    return completed / Stopwatch.GetElapsedTime(start).TotalSeconds;
}

static async Task HttpInferAsync(HttpClient http, byte[] body)
{
    using var content = new ByteArrayContent(body);
    content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
    content.Headers.Add("Inference-Header-Content-Length", BenchState.BinaryHeaderLength.ToString(CultureInfo.InvariantCulture));
    using var response = await http.PostAsync("/v2/models/minilm/infer", content);
    if (response.StatusCode != HttpStatusCode.OK)
    {
        throw new InvalidOperationException($"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    await response.Content.ReadAsByteArrayAsync();   // read the whole body, as a client must
}

static byte[] BinaryInferBody(long[] ids, int batch, int seq)
{
    var bytes = ids.Length * sizeof(long);
    var shape = $"[{batch},{seq}]";
    var header = "{\"inputs\":[" + string.Join(",", new[] { "input_ids", "attention_mask", "token_type_ids" }.Select(name =>
        $"{{\"name\":\"{name}\",\"datatype\":\"INT64\",\"shape\":{shape},\"parameters\":{{\"binary_data_size\":{bytes}}}}}")) +
        "],\"outputs\":[{\"name\":\"last_hidden_state\",\"parameters\":{\"binary_data\":true}}]}";
    var headerBytes = Encoding.UTF8.GetBytes(header);
    BenchState.BinaryHeaderLength = headerBytes.Length;
    var body = new byte[headerBytes.Length + 3 * bytes];
    headerBytes.CopyTo(body, 0);
    var span = body.AsSpan(headerBytes.Length);
    System.Runtime.InteropServices.MemoryMarshal.AsBytes(ids.AsSpan()).CopyTo(span);
    System.Runtime.InteropServices.MemoryMarshal.AsBytes(Ones(ids.Length).AsSpan()).CopyTo(span[bytes..]);
    return body;   // token_type_ids stay zero
}

static ModelInferRequest GrpcInferRequest(long[] ids, int batch, int seq)
{
    var request = new ModelInferRequest { ModelName = "minilm" };
    foreach (var (name, values) in new[] { ("input_ids", ids), ("attention_mask", Ones(ids.Length)), ("token_type_ids", new long[ids.Length]) })
    {
        var tensor = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT64" };
        tensor.Shape.Add(batch);
        tensor.Shape.Add(seq);
        request.Inputs.Add(tensor);
        request.RawInputContents.Add(ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan())));
    }

    request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "last_hidden_state" });
    return request;
}

// A MiniLM response at seq 128 is 196 KB; with .NET's default 64 KB HTTP/2 stream window the client would spend round
// trips on WINDOW_UPDATEs, which Triton's C++ clients (and any tuned client) avoid with a larger window.
static GrpcChannelOptions GrpcOptions() => new()
{
    HttpHandler = new SocketsHttpHandler { InitialHttp2StreamWindowSize = 4 << 20, EnableMultipleHttp2Connections = true },
    MaxReceiveMessageSize = 64 << 20,
};

static long[] TokenIds(int batch, int seq, int seed)
{
    var random = new Random(seed);
    var ids = new long[batch * seq];
    for (var i = 0; i < ids.Length; i++)
    {
        ids[i] = i % seq == 0 ? 101 : random.Next(1000, 30000);   // [CLS] then word pieces
    }

    return ids;
}

static long[] Ones(int n) => Enumerable.Repeat(1L, n).ToArray();

static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static Process StartServer(string repository, int httpPort, int grpcPort)
{
    var sluice = Path.Combine(AppContext.BaseDirectory, "sluice.dll");
    var info = new ProcessStartInfo("dotnet")
    {
        ArgumentList = { sluice, "serve", "--model-repository", repository, "--http-port", httpPort.ToString(CultureInfo.InvariantCulture),
            "--grpc-port", grpcPort.ToString(CultureInfo.InvariantCulture), "--address", "127.0.0.1" },
        RedirectStandardOutput = true,
        RedirectStandardError = true,
    };
    var process = Process.Start(info)!;
    process.OutputDataReceived += (_, e) => { if (e.Data is { } line && Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1") Console.Error.WriteLine("[server] " + line); };
    process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) Console.Error.WriteLine("[server] " + line); };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    return process;
}

static async Task WaitReadyAsync(int httpPort)
{
    using var http = new HttpClient();
    var deadline = Stopwatch.GetTimestamp();
    while (Stopwatch.GetElapsedTime(deadline) < TimeSpan.FromSeconds(120))
    {
        try
        {
            using var response = await http.GetAsync($"http://127.0.0.1:{httpPort}/v2/models/minilm/ready");
            if (response.IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException)
        {
        }

        await Task.Delay(200);
    }

    throw new TimeoutException("server did not become ready in 120 s");
}

static string CpuName() =>
    File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
        : "unknown CPU";

/// <summary>The baseline: one ONNX Runtime session with the server's default options, inputs bound straight from arrays.</summary>
internal sealed class BareSession : IDisposable
{
    private readonly SessionOptions _options = new() { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private long[] _ones = [];
    private long[] _zeros = [];

    public BareSession(string modelPath) => _session = new InferenceSession(modelPath, _options);

    public void Run(long[] ids, int batch, int seq)
    {
        long[] shape = [batch, seq];
        using var inputIds = OrtValue.CreateTensorValueFromMemory(ids, shape);
        if (_ones.Length != ids.Length)
        {
            _ones = Enumerable.Repeat(1L, ids.Length).ToArray();
            _zeros = new long[ids.Length];
        }

        using var mask = OrtValue.CreateTensorValueFromMemory(_ones, shape);
        using var types = OrtValue.CreateTensorValueFromMemory(_zeros, shape);
        using var outputs = _session.Run(_runOptions, ["input_ids", "attention_mask", "token_type_ids"], [inputIds, mask, types], ["last_hidden_state"]);
        _ = outputs[0].GetTensorDataAsSpan<float>()[0];
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
        _options.Dispose();
    }
}

internal static class BenchState
{
    /// <summary>Length of the JSON header of the binary request body built by BinaryInferBody.</summary>
    public static int BinaryHeaderLength;
}
