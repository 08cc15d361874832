// Side-by-side benchmark of the serving core against a bare in-process ONNX Runtime session, on the demo MiniLM model.
//
//   dotnet run -c Release --project benchmarks/Sluice.Benchmarks -- latency    [--seq 128] [--rounds 60] [--requests 10]
//   dotnet run -c Release --project benchmarks/Sluice.Benchmarks -- throughput [--seq 8] [--concurrency 16] [--rounds 5] [--seconds 4]
//
// The server runs as a child process (the real `sluice serve`) on loopback ports, twice: with the demo config and with a
// throughput-tuned one (WriteThroughputRepository). The bare session runs in this process while the servers idle. Paths
// take turns (bare, HTTP binary, gRPC, ...) so drift on a shared machine hits every path alike.

using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Google.Protobuf;
using Grpc.Net.Client;
using Microsoft.ML.OnnxRuntime;
using Sluice.Benchmarks.Shared;
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
// The demo config beside a throughput-tuned one (WriteThroughputRepository), each in its own server; the idle one sleeps.
var tunedRepository = WriteThroughputRepository(modelPath);
var tunedHttp = FreePort();
var tunedGrpc = FreePort();
var servers = new List<Process> { StartServer(repository, httpPort, grpcPort), StartServer(tunedRepository, tunedHttp, tunedGrpc) };
try
{
    await WaitReadyAsync(httpPort, servers[0]);
    await WaitReadyAsync(tunedHttp, servers[1]);
    Console.WriteLine($"# machine: {Environment.ProcessorCount} cores, {CpuName()}; ONNX Runtime {OrtEnv.Instance().GetVersionString()}");
    ServedConfig[] configs = [new("demo config", httpPort, grpcPort), new("throughput config", tunedHttp, tunedGrpc)];
    switch (mode)
    {
        case "latency":
            await LatencyAsync(modelPath, Arg("--seq", 128), Arg("--rounds", 60), Arg("--requests", 10), configs);
            break;
        case "throughput":
            await ThroughputAsync(modelPath, Arg("--seq", 8), Arg("--concurrency", 16), Arg("--rounds", 5), Arg("--seconds", 4), configs);
            break;
        default:
            Console.Error.WriteLine($"unknown mode '{mode}': use latency or throughput");
            return 2;
    }
}
finally
{
    foreach (var server in servers)
    {
        if (!server.HasExited)
        {
            server.Kill(entireProcessTree: true);
        }

        server.Dispose();
    }
}

return 0;

static async Task LatencyAsync(string modelPath, int seq, int rounds, int requests, IReadOnlyList<ServedConfig> configs)
{
    var ids = TokenIds(batch: 1, seq, seed: 1);
    using var bare = new BareSession(modelPath);
    using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{configs[0].HttpPort}") };
    using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{configs[0].GrpcPort}", GrpcOptions());
    var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
    using var tunedChannel = GrpcChannel.ForAddress($"http://127.0.0.1:{configs[1].GrpcPort}", GrpcOptions());
    var tunedGrpc = new GRPCInferenceService.GRPCInferenceServiceClient(tunedChannel);
    var httpBody = BinaryInferBody(ids, 1, seq);
    var grpcRequest = GrpcInferRequest(ids, 1, seq);

    // Warm every path (JIT, connection, ORT arena) before measuring.
    for (var i = 0; i < 10; i++)
    {
        bare.Run(ids, 1, seq);
        await HttpInferAsync(http, httpBody);
        await grpc.ModelInferAsync(grpcRequest);
        await tunedGrpc.ModelInferAsync(grpcRequest);
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
        async () => await tunedGrpc.ModelInferAsync(grpcRequest),
    ];
    string[] names = ["bare", "http", "grpc", $"grpc, {configs[1].Name}"];
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

static async Task ThroughputAsync(string modelPath, int seq, int concurrency, int rounds, int seconds, IReadOnlyList<ServedConfig> configs)
{
    using var bare = new BareSession(modelPath);
    var single = TokenIds(1, seq, seed: 2);
    var batched = TokenIds(concurrency, seq, seed: 3);
    using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency * 2 };
    using var http = new HttpClient(handler);
    var httpBody = BinaryInferBody(single, 1, seq);
    var grpcRequest = GrpcInferRequest(single, 1, seq);
    var paths = new List<(string Name, Func<Task> Call)>();
    var channels = new List<GrpcChannel>();
    foreach (var config in configs)
    {
        var baseUri = new Uri($"http://127.0.0.1:{config.HttpPort}");
        var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{config.GrpcPort}", GrpcOptions());
        channels.Add(channel);
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        paths.Add(($"http binary, concurrency {concurrency}, {config.Name}", () => HttpInferAsync(http, httpBody, baseUri)));
        paths.Add(($"grpc, concurrency {concurrency}, {config.Name}", async () => await grpc.ModelInferAsync(grpcRequest)));
    }

    for (var i = 0; i < 20; i++)
    {
        bare.Run(single, 1, seq);
        bare.Run(batched, concurrency, seq);
    }

    // Warm the concurrent paths too: the first batches of each new size pay ONNX Runtime's per-shape planning and the JIT's
    // first calls, which would otherwise land in the first round.
    foreach (var (_, call) in paths)
    {
        await ClosedLoopAsync(concurrency, TimeSpan.FromSeconds(2), call);
    }

    var results = new Dictionary<string, List<double>> { ["bare batch 1"] = [], [$"bare batch {concurrency}"] = [] };
    foreach (var (name, _) in paths)
    {
        results[name] = [];
    }

    var window = TimeSpan.FromSeconds(seconds);
    for (var round = 0; round < rounds; round++)
    {
        results["bare batch 1"].Add(BareItemsPerSecond(bare, single, 1, seq, window));
        results[$"bare batch {concurrency}"].Add(BareItemsPerSecond(bare, batched, concurrency, seq, window));
        foreach (var (name, call) in paths)
        {
            results[name].Add(await ClosedLoopAsync(concurrency, window, call));
        }
    }

    foreach (var channel in channels)
    {
        channel.Dispose();
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

// The same model under a config tuned for throughput on a small CPU: two instances of one intra-op thread each, so two
// batches run side by side without ONNX Runtime's threads spinning against each other or against the I/O, and a 4 ms
// delay so batches fill. Its price is latency at low load: a lone request runs on one thread (about 1.6x slower at seq 128).
static string WriteThroughputRepository(string modelPath)
{
    var repository = Path.Combine(Path.GetTempPath(), "sluice-bench-repo-throughput");
    var version = Path.Combine(repository, "minilm", "1");
    Directory.CreateDirectory(version);
    var target = Path.Combine(version, "model.onnx");
    if (!File.Exists(target) || new FileInfo(target).Length != new FileInfo(modelPath).Length)
    {
        File.Copy(modelPath, target, overwrite: true);
    }

    var config = Tuned(DemoRepository.MiniLmConfig, "preferred_batch_size: [16, 32]", "preferred_batch_size: [8, 16, 32]");
    config = Tuned(config, "{ count: 1, kind: KIND_CPU }", "{ count: 2, kind: KIND_CPU }");
    File.WriteAllText(Path.Combine(repository, "minilm", "config.yaml"), config + "\nexecution:\n  intra_op_threads: 1\n");
    return repository;

    static string Tuned(string config, string from, string to) =>
        config.Contains(from, StringComparison.Ordinal)
            ? config.Replace(from, to, StringComparison.Ordinal)
            : throw new InvalidOperationException($"the demo config no longer has '{from}'; update WriteThroughputRepository");
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

// A lean client, as a load generator should be (its CPU shares the two cores with the server): header values parsed once,
// the response streamed into a pooled buffer instead of a fresh array per call. The whole body is still read.
static async Task HttpInferAsync(HttpClient http, byte[] body, Uri? server = null)
{
    var uri = server is null ? new Uri("/v2/models/minilm/infer", UriKind.Relative) : new Uri(server, "/v2/models/minilm/infer");
    using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body) };
    request.Content.Headers.ContentType = BenchState.OctetStream;
    request.Content.Headers.TryAddWithoutValidation("Inference-Header-Content-Length", BenchState.BinaryHeaderLengthText);
    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    if (response.StatusCode != HttpStatusCode.OK)
    {
        throw new InvalidOperationException($"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    await using var stream = await response.Content.ReadAsStreamAsync();
    var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 << 10);
    try
    {
        while (await stream.ReadAsync(buffer) > 0)
        {
        }
    }
    finally
    {
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
    }
}

static byte[] BinaryInferBody(long[] ids, int batch, int seq)
{
    var bytes = ids.Length * sizeof(long);
    var shape = $"[{batch},{seq}]";
    var header = "{\"inputs\":[" + string.Join(",", new[] { "input_ids", "attention_mask", "token_type_ids" }.Select(name =>
        $"{{\"name\":\"{name}\",\"datatype\":\"INT64\",\"shape\":{shape},\"parameters\":{{\"binary_data_size\":{bytes}}}}}")) +
        "],\"outputs\":[{\"name\":\"last_hidden_state\",\"parameters\":{\"binary_data\":true}}]}";
    var headerBytes = Encoding.UTF8.GetBytes(header);
    BenchState.BinaryHeaderLengthText = headerBytes.Length.ToString(CultureInfo.InvariantCulture);
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

static Process StartServer(string repository, int httpPort, int grpcPort) => BenchHost.StartSluice(
    "--model-repository", repository, "--http-port", httpPort.ToString(CultureInfo.InvariantCulture),
    "--grpc-port", grpcPort.ToString(CultureInfo.InvariantCulture), "--metrics-port", FreePort().ToString(CultureInfo.InvariantCulture),
    "--address", "127.0.0.1");

static Task WaitReadyAsync(int httpPort, Process server) =>
    BenchHost.WaitForAsync($"http://127.0.0.1:{httpPort}/v2/models/minilm/ready", TimeSpan.FromSeconds(120), server);

static int FreePort() => BenchHost.FreePort();

static string CpuName() => BenchHost.CpuName();

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

internal sealed record ServedConfig(string Name, int HttpPort, int GrpcPort);

internal static class BenchState
{
    /// <summary>Length of the JSON header of the binary request body built by BinaryInferBody, as the header's text.</summary>
    public static string BinaryHeaderLengthText = "0";

    public static readonly MediaTypeHeaderValue OctetStream = new("application/octet-stream");
}
