// GPU measurement driver for gpu/measure.sh. Modes (each prints one JSON object per measurement on stdout):
//
//   engine  --model M.onnx --name N [--provider cuda] [--batches 1,8,32] [--seq 128] [--iters 300] [--output pooler_output]
//           [--option k=v ...] [--warmup 20]        the real OnnxModelRunner (what the server runs per instance), no server around it:
//                                     compute_infer / compute_input / compute_output percentiles and batch throughput.
//   grpc    --port P --model N [--batch 1] [--seq 128] [--concurrency 32] [--seconds 10] [--output pooler_output] [--timing]
//           [--channels 1] [--warmup 50] [--label L] [--stats-port HTTP_PORT]  closed-loop gRPC load: throughput, end-to-end percentiles; with --timing, server-side phases
//                             from trailers. --channels N spreads the workers over N channels (HTTP/2 connections),
//                             worker w on channel w % N: 32 independent clients have 32 connections, not one.
//   stub-bert --out M.onnx    a BERT-shaped model with next to no compute (pooler_output = mean of the summed inputs times a
//                             constant row of 768): the serving path's own cost, measured without a GPU.
//   nvml    [--pid P]                 device memory used/total and the process's own use, from NVML.
//   llama-model --out DIR [--layers 16 --hidden 2048 --heads 32 --kv-heads 8 --head-dim 0 --inter 5632 --vocab 32000
//           --max-len 2048 --dtype float16 --seed 1 --std 0.02 --embedding-std 0.02 --tied --transposed --storage auto|inline|external]
//           writes a random-weight Llama decoder in the shared-KV-buffer layout (GroupQueryAttention): DIR/1/model.onnx
//           (+ model.onnx.data) and DIR/decoder_config.json; prints parameters, bytes and seconds. --transposed stores the
//           projections [out, in] and multiplies with FusedMatMul transB=1 (LlamaModelConfig.TransposedProjections).

using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Core.Configuration;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;
using Sluice.Onnx.Runtime;
using Sluice.Server.Grpc.Protocol;

var mode = args.FirstOrDefault() ?? "";
string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
int IntArg(string name, int fallback) => int.Parse(Arg(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
List<string> All(string name) => args.Select((a, i) => (a, i)).Where(p => p.a == name && p.i + 1 < args.Length).Select(p => args[p.i + 1]).ToList();

try
{
    return mode switch
    {
        "engine" => Bench.Engine(Arg("--model", ""), Arg("--name", "bert"), Arg("--provider", "cuda"),
            Arg("--batches", "1,8,32").Split(',').Select(int.Parse).ToArray(), IntArg("--seq", 128), IntArg("--iters", 300),
            Arg("--output", "pooler_output"), All("--option"), IntArg("--warmup", 20)),
        "grpc" => await Bench.GrpcAsync(IntArg("--port", 8001), Arg("--model", "bert"), IntArg("--batch", 1), IntArg("--seq", 128),
            IntArg("--concurrency", 32), IntArg("--seconds", 10), Arg("--output", "pooler_output"), args.Contains("--timing"),
            IntArg("--requests", 0), IntArg("--channels", 1), IntArg("--warmup", 50), Arg("--label", ""), IntArg("--stats-port", 0)),
        "nvml" => Nvml.Report(IntArg("--pid", 0)),
        "stub-bert" => StubBert.Write(Arg("--out", "")),
        "llama-model" => LlamaModel.Write(Arg("--out", ""), new Sluice.Onnx.Graph.LlamaModelConfig
        {
            Layers = IntArg("--layers", 16), Hidden = IntArg("--hidden", 2048), Heads = IntArg("--heads", 32),
            KvHeads = IntArg("--kv-heads", 8), HeadDim = IntArg("--head-dim", 0), Intermediate = IntArg("--inter", 5632),
            Vocab = IntArg("--vocab", 32000), MaxPosition = IntArg("--max-len", 2048),
            ElementType = Arg("--dtype", "float16") switch
            {
                "float16" => Sluice.Core.Tensors.DataType.Fp16,
                "float32" => Sluice.Core.Tensors.DataType.Fp32,
                var other => throw new ArgumentException($"--dtype must be float16 or float32, not '{other}'"),
            },
            Seed = IntArg("--seed", 1), TiedEmbeddings = args.Contains("--tied"), TransposedProjections = args.Contains("--transposed"),
            WeightStd = float.Parse(Arg("--std", "0.02"), CultureInfo.InvariantCulture),
            EmbeddingStd = float.Parse(Arg("--embedding-std", "0.02"), CultureInfo.InvariantCulture),
        }, Arg("--storage", "auto")),
        _ => Usage(),
    };
}
catch (Exception e)
{
    Console.WriteLine(JsonSerializer.Serialize(new { mode, error = e.GetType().Name + ": " + e.Message }));
    return 1;
}

static int Usage()
{
    Console.Error.WriteLine("usage: GpuBench engine|grpc|nvml|llama-model ... (see Program.cs)");
    return 2;
}

internal static class Bench
{
    public static int Engine(string model, string name, string provider, int[] batches, int seq, int iters, string output, List<string> options, int warmup)
    {
        var providerOptions = options.Select(o => o.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var config = new Sluice.Core.Configuration.ModelConfig { Name = name, Execution = new ExecutionConfig { ProviderOptions = providerOptions } };
        var started = Stopwatch.GetTimestamp();
        using var runner = new OnnxModelBackend().CreateRunner(config, model, new RunnerPlacement(provider, 0, 0));
        var loadMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        foreach (var batch in batches)
        {
            var inputs = BertInputs(batch, seq, seed: batch);
            string[] outputs = [output];
            float[] digest = [];
            for (var i = 0; i < warmup; i++)
            {
                var warm = runner.RunAsync(inputs, outputs, CancellationToken.None).AsTask().GetAwaiter().GetResult();
                digest = Digest(warm.Outputs[0]);
            }

            var infer = new double[iters];
            var input = new double[iters];
            var outputMs = new double[iters];
            var wall = new double[iters];
            var runStart = Stopwatch.GetTimestamp();
            for (var i = 0; i < iters; i++)
            {
                var t0 = Stopwatch.GetTimestamp();
                var result = runner.RunAsync(inputs, outputs, CancellationToken.None).AsTask().GetAwaiter().GetResult();
                wall[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                input[i] = Stopwatch.GetElapsedTime(t0, result.ComputeInputEnd).TotalMilliseconds;
                infer[i] = Stopwatch.GetElapsedTime(result.ComputeInputEnd, result.ComputeInferEnd).TotalMilliseconds;
                outputMs[i] = Stopwatch.GetElapsedTime(result.ComputeInferEnd, result.ComputeOutputEnd).TotalMilliseconds;
            }

            var seconds = Stopwatch.GetElapsedTime(runStart).TotalSeconds;
            Print(new
            {
                mode = "engine", name, provider, batch, seq, iters, output, options = providerOptions, load_ms = Math.Round(loadMs, 1),
                compute_infer_ms = Stats(infer), compute_input_ms = Stats(input), compute_output_ms = Stats(outputMs), wall_ms = Stats(wall),
                items_per_s = Math.Round(iters * batch / seconds, 1),
                output_first = digest.Take(6).Select(v => Math.Round(v, 4)).ToArray(),
                output_mean_abs = digest.Length == 0 ? 0 : Math.Round(digest.Average(MathF.Abs), 5),
            });
        }

        return 0;
    }

    public static async Task<int> GrpcAsync(int port, string model, int batch, int seq, int concurrency, int seconds, string output, bool timing,
        int requests, int channelCount, int warmup, string label, int statsPort)
    {
        var channels = Enumerable.Range(0, Math.Clamp(channelCount, 1, concurrency)).Select(_ => GrpcChannel.ForAddress(
            $"http://127.0.0.1:{port}", new GrpcChannelOptions
            {
                MaxReceiveMessageSize = 64 << 20,
                HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            })).ToArray();
        var clients = channels.Select(c => new GRPCInferenceService.GRPCInferenceServiceClient(c)).ToArray();
        var request = Request(model, batch, seq, output);
        var headers = timing ? new Metadata { { "sluice-timing", "true" } } : null;
        for (var i = 0; i < warmup; i++)
        {
            await clients[i % clients.Length].ModelInferAsync(request, headers);
        }

        var statsBefore = statsPort > 0 ? await ModelStatsAsync(statsPort, model) : null;
        var latencies = new List<double>[concurrency];
        var infer = new List<double>[concurrency];
        var queue = new List<double>[concurrency];
        var batchSizes = new List<double>[concurrency];
        var serverTotal = new List<double>[concurrency];   // the server's whole share: read → response encoded
        var admit = new List<double>[concurrency];         // read and decoded until queued
        var after = new List<double>[concurrency];         // outputs split until the response was encoded (the hop back, encoding)
        var outside = new List<double>[concurrency];       // the client's latency minus the server's share: both gRPC stacks + the wire
        var window = TimeSpan.FromSeconds(seconds);
        var start = Stopwatch.GetTimestamp();
        var perWorker = requests > 0 ? Math.Max(1, requests / concurrency) : int.MaxValue;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async w =>
        {
            latencies[w] = []; infer[w] = []; queue[w] = []; batchSizes[w] = []; serverTotal[w] = []; admit[w] = []; after[w] = []; outside[w] = [];
            var client = clients[w % clients.Length];
            for (var n = 0; n < perWorker && Stopwatch.GetElapsedTime(start) < window; n++)
            {
                var t0 = Stopwatch.GetTimestamp();
                using var call = client.ModelInferAsync(request, headers);
                await call.ResponseAsync.ConfigureAwait(false);
                var latency = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                latencies[w].Add(latency);
                if (timing)
                {
                    var trailers = call.GetTrailers();
                    infer[w].Add(Us(trailers, "sluice-compute-infer-us"));
                    queue[w].Add(Us(trailers, "sluice-queue-us"));
                    var server = Us(trailers, "sluice-server-us");
                    serverTotal[w].Add(server);
                    admit[w].Add(Us(trailers, "sluice-admit-us"));
                    after[w].Add(server - Us(trailers, "sluice-admit-us") - Us(trailers, "sluice-queue-us") - Us(trailers, "sluice-compute-input-us")
                        - Us(trailers, "sluice-compute-infer-us") - Us(trailers, "sluice-compute-output-us"));
                    outside[w].Add(latency - server);
                    batchSizes[w].Add(double.Parse(trailers.GetValue("sluice-batch-size") ?? "0", CultureInfo.InvariantCulture));
                }
            }
        }));
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var statsAfter = statsPort > 0 ? await ModelStatsAsync(statsPort, model) : null;
        var all = latencies.SelectMany(l => l).ToArray();
        Print(new
        {
            mode = "grpc", label, client_inline_io = Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") == "1", model, batch, seq, concurrency, channels = clients.Length, output, seconds = Math.Round(elapsed, 2), requests = all.Length,
            items_per_s = Math.Round(all.Length * batch / elapsed, 1), latency_ms = Stats(all),
            server_compute_infer_ms = timing ? Stats(infer.SelectMany(l => l).ToArray()) : null,
            server_queue_ms = timing ? Stats(queue.SelectMany(l => l).ToArray()) : null,
            server_batch_size = timing ? Stats(batchSizes.SelectMany(l => l).ToArray()) : null,
            server_total_ms = timing ? Stats(serverTotal.SelectMany(l => l).ToArray()) : null,
            server_admit_ms = timing ? Stats(admit.SelectMany(l => l).ToArray()) : null,
            server_after_compute_ms = timing ? Stats(after.SelectMany(l => l).ToArray()) : null,
            outside_server_ms = timing ? Stats(outside.SelectMany(l => l).ToArray()) : null,
            server_stats_mean = statsBefore is null || statsAfter is null ? null : StatsDelta(statsBefore, statsAfter),
        });
        foreach (var channel in channels)
        {
            channel.Dispose();
        }

        return 0;
    }

    /// <summary>The output as floats (FP16 widened), so variants of one model can be checked against each other.</summary>
    private static float[] Digest(TensorData tensor)
    {
        var bytes = tensor.Data.Span;
        return tensor.DataType switch
        {
            Sluice.Core.Tensors.DataType.Fp32 => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
            Sluice.Core.Tensors.DataType.Fp16 => MemoryMarshal.Cast<byte, Half>(bytes).ToArray().Select(h => (float)h).ToArray(),
            _ => [],
        };
    }

    /// <summary>The model's cumulative statistics (Triton's statistics extension on the HTTP port): counts and nanoseconds per phase.</summary>
    private static async Task<Dictionary<string, double>> ModelStatsAsync(int port, string model)
    {
        using var http = new HttpClient();
        using var doc = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/v2/models/{model}/stats"));
        var stats = doc.RootElement.GetProperty("model_stats")[0];
        var values = new Dictionary<string, double>
        {
            ["inference_count"] = stats.GetProperty("inference_count").GetDouble(),
            ["execution_count"] = stats.GetProperty("execution_count").GetDouble(),
        };
        foreach (var phase in stats.GetProperty("inference_stats").EnumerateObject())
        {
            values[phase.Name + ".count"] = phase.Value.GetProperty("count").GetDouble();
            values[phase.Name + ".ns"] = phase.Value.GetProperty("ns").GetDouble();
        }

        return values;
    }

    /// <summary>Means over the run from two snapshots: per request for the phases (ms), items per execution for the batch size.</summary>
    private static Dictionary<string, double> StatsDelta(Dictionary<string, double> before, Dictionary<string, double> after)
    {
        double Delta(string key) => after.GetValueOrDefault(key) - before.GetValueOrDefault(key);
        var result = new Dictionary<string, double>();
        foreach (var phase in new[] { "success", "queue", "compute_input", "compute_infer", "compute_output" })
        {
            var count = Delta(phase + ".count");
            result[phase == "success" ? "request_ms" : phase + "_ms"] = count > 0 ? Math.Round(Delta(phase + ".ns") / count / 1e6, 4) : 0;
        }

        var executions = Delta("execution_count");
        result["batch_size"] = executions > 0 ? Math.Round(Delta("inference_count") / executions, 2) : 0;
        return result;
    }

    private static double Us(Metadata trailers, string key) =>
        double.Parse(trailers.GetValue(key) ?? "0", CultureInfo.InvariantCulture) / 1000.0;

    private static ModelInferRequest Request(string model, int batch, int seq, string output)
    {
        var request = new ModelInferRequest { ModelName = model };
        foreach (var tensor in BertInputs(batch, seq, seed: 17))
        {
            var input = new ModelInferRequest.Types.InferInputTensor { Name = tensor.Name, Datatype = "INT64" };
            input.Shape.Add(batch);
            input.Shape.Add(seq);
            request.Inputs.Add(input);
            request.RawInputContents.Add(ByteString.CopyFrom(tensor.Data.Span));
        }

        request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = output });
        return request;
    }

    /// <summary>BERT inputs: [CLS] random word pieces [SEP], full attention mask, segment 0.</summary>
    public static TensorData[] BertInputs(int batch, int seq, int seed)
    {
        var random = new Random(seed);
        var ids = new long[batch * seq];
        for (var i = 0; i < ids.Length; i++)
        {
            var position = i % seq;
            ids[i] = position == 0 ? 101 : position == seq - 1 ? 102 : random.Next(1000, 30000);
        }

        long[] shape = [batch, seq];
        return
        [
            TensorData.From<long>("input_ids", shape, ids),
            TensorData.From<long>("attention_mask", shape, Enumerable.Repeat(1L, ids.Length).ToArray()),
            TensorData.From<long>("token_type_ids", shape, new long[ids.Length]),
        ];
    }

    public static object? Stats(double[] values)
    {
        if (values.Length == 0)
        {
            return null;
        }

        var sorted = values.Order().ToArray();
        double P(double q) => Math.Round(sorted[Math.Min(sorted.Length - 1, Math.Max(0, (int)Math.Ceiling(q * sorted.Length) - 1))], 4);
        return new { n = sorted.Length, p50 = P(0.50), p90 = P(0.90), p99 = P(0.99), min = Math.Round(sorted[0], 4), mean = Math.Round(sorted.Average(), 4) };
    }

    public static void Print(object value) => Console.WriteLine(JsonSerializer.Serialize(value));
}

/// <summary>NVML, read directly (libnvidia-ml.so.1): what the driver says the device and a process use.</summary>
internal static partial class Nvml
{
    private const string Library = "libnvidia-ml.so.1";

    [StructLayout(LayoutKind.Sequential)]
    private struct MemoryInfo
    {
        public ulong Total;
        public ulong Free;
        public ulong Used;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ProcessInfo
    {
        public uint Pid;
        public ulong UsedGpuMemory;
        public uint GpuInstanceId;
        public uint ComputeInstanceId;
    }

    [LibraryImport(Library)]
    private static partial int nvmlInit_v2();

    [LibraryImport(Library)]
    private static partial int nvmlDeviceGetHandleByIndex_v2(uint index, out IntPtr device);

    [LibraryImport(Library)]
    private static partial int nvmlDeviceGetMemoryInfo(IntPtr device, out MemoryInfo memory);

    [LibraryImport(Library)]
    private static unsafe partial int nvmlDeviceGetComputeRunningProcesses_v3(IntPtr device, ref uint count, ProcessInfo* infos);

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int nvmlDeviceGetName(IntPtr device, byte* name, uint length);

    public static unsafe int Report(int pid)
    {
        Check(nvmlInit_v2(), "nvmlInit");
        Check(nvmlDeviceGetHandleByIndex_v2(0, out var device), "nvmlDeviceGetHandleByIndex");
        Check(nvmlDeviceGetMemoryInfo(device, out var memory), "nvmlDeviceGetMemoryInfo");
        var nameBytes = stackalloc byte[96];
        Check(nvmlDeviceGetName(device, nameBytes, 96), "nvmlDeviceGetName");
        var count = 64u;
        var infos = stackalloc ProcessInfo[64];
        Check(nvmlDeviceGetComputeRunningProcesses_v3(device, ref count, infos), "nvmlDeviceGetComputeRunningProcesses");
        var processes = new List<object>();
        ulong? mine = null;
        for (var i = 0; i < count; i++)
        {
            processes.Add(new { pid = infos[i].Pid, used_bytes = infos[i].UsedGpuMemory });
            if (infos[i].Pid == pid)
            {
                mine = infos[i].UsedGpuMemory;
            }
        }

        Bench.Print(new
        {
            mode = "nvml", device = Marshal.PtrToStringUTF8((IntPtr)nameBytes), total_bytes = memory.Total, used_bytes = memory.Used,
            pid, process_used_bytes = mine, processes,
        });
        return 0;
    }

    private static void Check(int status, string call)
    {
        if (status != 0)
        {
            throw new InvalidOperationException($"{call} failed with NVML status {status}");
        }
    }
}

internal static class LlamaModel
{
    /// <summary>DIR/1/model.onnx (+ model.onnx.data) and DIR/decoder_config.json; one JSON line with what was written.</summary>
    public static int Write(string dir, Sluice.Onnx.Graph.LlamaModelConfig config, string storage)
    {
        if (string.IsNullOrEmpty(dir))
        {
            throw new ArgumentException("--out DIR is required");
        }

        var weightStorage = storage switch
        {
            "auto" => Sluice.Onnx.Graph.LlamaWeightStorage.Auto,
            "inline" => Sluice.Onnx.Graph.LlamaWeightStorage.Inline,
            "external" => Sluice.Onnx.Graph.LlamaWeightStorage.External,
            _ => throw new ArgumentException($"--storage must be auto, inline or external, not '{storage}'"),
        };
        var started = Stopwatch.GetTimestamp();
        var files = Sluice.Onnx.Graph.LlamaModelWriter.Write(Path.Combine(dir, "1", "model.onnx"), config, weightStorage,
            Path.Combine(dir, Sluice.Onnx.Graph.LlamaModelWriter.DecoderConfigFile));
        Bench.Print(new
        {
            mode = "llama-model",
            model = files.ModelPath,
            data = files.DataPath,
            decoder_config = files.DecoderConfigPath,
            parameters = config.ParameterCount,
            weight_bytes = files.WeightBytes,
            model_file_bytes = new FileInfo(files.ModelPath).Length,
            data_file_bytes = files.DataPath is null ? 0 : new FileInfo(files.DataPath).Length,
            seconds = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 2),
        });
        return 0;
    }
}

/// <summary>BERT's inputs and pooler_output with almost no compute, for measuring what the serving path itself costs.</summary>
internal static class StubBert
{
    public static int Write(string path)
    {
        if (path.Length == 0)
        {
            throw new ArgumentException("--out is required");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var row = Enumerable.Range(0, 768).Select(i => (i % 7) / 7f).ToArray();
        new Sluice.Onnx.Graph.OnnxGraphBuilder("stub_bert")
            .Input("input_ids", Sluice.Core.Tensors.DataType.Int64, [-1, -1])
            .Input("attention_mask", Sluice.Core.Tensors.DataType.Int64, [-1, -1])
            .Input("token_type_ids", Sluice.Core.Tensors.DataType.Int64, [-1, -1])
            .Initializer("row", row, [1, 768])
            .Node("Add", ["input_ids", "attention_mask"], ["s1"])
            .Node("Add", ["s1", "token_type_ids"], ["s2"])
            .Node("Cast", ["s2"], ["f"], Sluice.Onnx.Graph.OnnxGraphBuilder.Attribute("to", 1L))
            .Node("ReduceMean", ["f"], ["m"], Sluice.Onnx.Graph.OnnxGraphBuilder.Attribute("axes", [1L]))
            .Node("Mul", ["m", "row"], ["pooler_output"])
            .Output("pooler_output", Sluice.Core.Tensors.DataType.Fp32, [-1, 768])
            .Save(path);
        Console.WriteLine(JsonSerializer.Serialize(new { mode = "stub-bert", path }));
        return 0;
    }
}
