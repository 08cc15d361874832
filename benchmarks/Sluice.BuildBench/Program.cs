using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Sluice.BuildBench;
using Sluice.Core.Tensors;
using Sluice.Engine.Repository;
using Sluice.Onnx.Build;

// sluice build, side by side on MiniLM: original FP32, optimized FP32, FP16, INT8 (dynamic and QDQ).
// Usage: Sluice.BuildBench [--batch 8] [--seq 128] [--rounds 3] [--seconds 4] [--calibration percentile] [--gate-threshold 0.99] [--threads N (0: ONNX Runtime default)] [--no-spin] [--work DIR]
var settings = Settings.Parse(args);
var work = settings.Work ?? Path.Combine(Path.GetTempPath(), $"sluice-buildbench-{Guid.NewGuid():N}");
Directory.CreateDirectory(work);
var modelPath = DemoRepository.EnsureWritten(Path.Combine(work, "source"));
var tokenizer = new WordPieceTokenizer(Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(modelPath))!, "vocab.txt"));

// Representative data: rows of 128 tokens made of calibration sentences; held-out rows from other sentences.
var dataDir = Path.Combine(work, "data");
Directory.CreateDirectory(dataDir);
var calibrationRows = Rows(Sentences.Calibration, 4 * settings.Batch, settings.Sequence);
var heldOutRows = Rows(Sentences.HeldOut, 3 * settings.Batch, settings.Sequence);
var samples = calibrationRows.Chunk(settings.Batch).Concat(heldOutRows.Chunk(settings.Batch)).ToList();
for (var i = 0; i < samples.Count; i++)
{
    File.WriteAllText(Path.Combine(dataDir, $"sample_{i:D2}.json"), RequestJson(samples[i], settings.Sequence));
}

var repository = Path.Combine(work, "repository");
var engines = new List<(string Label, string Path)> { ("original fp32", modelPath) };
var buildSeconds = new Dictionary<string, double>();
foreach (var (label, precision, method) in new[]
{
    ("optimized fp32", EnginePrecision.Fp32, CalibrationMethod.MinMax),
    ("fp16", EnginePrecision.Fp16, CalibrationMethod.MinMax),
    ("int8 dynamic", EnginePrecision.Int8Dynamic, CalibrationMethod.MinMax),
    ($"int8 qdq ({CalibrationTable.Name(settings.Calibration)})", EnginePrecision.Int8Qdq, settings.Calibration),
})
{
    var clock = Stopwatch.StartNew();
    var result = EngineBuilder.Build(new EngineBuildOptions
    {
        ModelPath = modelPath,
        RepositoryPath = repository,
        ModelName = "minilm",
        Precision = precision,
        CalibrationMethod = method,
        DataDirectory = dataDir,
        SampleBatch = settings.Batch,
        CalibrationSamples = 4,
        GateSamples = 3,
        GateThreshold = settings.GateThreshold,
        WriteOrtFormat = precision == EnginePrecision.Fp32,
    }, line => Console.Error.WriteLine($"  {label}: {line}"));
    buildSeconds[label] = clock.Elapsed.TotalSeconds;
    var fallback = result.Report.PrecisionChanges.GetValueOrDefault("fp32_fallback");
    if (!result.Passed)
    {
        Console.Error.WriteLine($"  {label}: gate failed ({result.Report.Failure}); not benchmarked");
        continue;
    }

    engines.Add((fallback > 0 ? $"{label}, {fallback} nodes fp32" : label, Path.Combine(result.Directory, EngineBuilder.EngineFileName)));
}

// Held-out inputs for timing and accuracy.
var heldOut = heldOutRows.Chunk(settings.Batch).Select(rows => Inputs(rows, settings.Sequence)).ToList();
var executors = engines.Select(e => new ModelExecutor(e.Path, intraOpThreads: settings.Threads, allowSpinning: !settings.NoSpin)).ToList();
var reference = heldOut.Select(sample => executors[0].Run(sample)[0]).ToList();
var cosines = new List<(double Mean, double Min)>();
foreach (var executor in executors)
{
    var values = new List<double>();
    for (var s = 0; s < heldOut.Count; s++)
    {
        var output = executor.Run(heldOut[s])[0];
        var mask = heldOut[s].First(t => t.Name == "attention_mask");
        values.AddRange(AccuracyGate.RowCosines(AccuracyGate.MeanPool(reference[s].Values, reference[s].Shape, mask),
            AccuracyGate.MeanPool(output.Values, output.Shape, mask), (int)output.Shape[^1]));
    }

    cosines.Add((values.Average(), values.Min()));
}

// Throughput: the engines take turns one inference at a time (ABCDE ABCDE ...), so a burst of load from other
// processes hits all of them alike; inferences/s = batch / median latency of an engine's runs.
var latencies = engines.Select(_ => new List<double>()).ToList();
var timing = heldOut[0];
foreach (var executor in executors)
{
    executor.Run(timing);   // warm up
}

for (var round = 0; round < settings.Rounds; round++)
{
    var roundClock = Stopwatch.StartNew();
    while (roundClock.Elapsed.TotalSeconds < settings.Seconds * executors.Count)
    {
        for (var e = 0; e < executors.Count; e++)
        {
            var start = Stopwatch.GetTimestamp();
            executors[e].Run(timing);
            latencies[e].Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    Console.Error.WriteLine($"round {round + 1}/{settings.Rounds}: {string.Join(", ", engines.Select((en, i) => $"{en.Label} {settings.Batch / Median(latencies[i]):F1}/s"))}");
}

var throughput = latencies.Select(l => new List<double> { settings.Batch / Percentile(l, 0.5), settings.Batch / Percentile(l, 0.1) }).ToList();

// Session start: the optimized engine as ONNX and as ORT format against the original.
var loadTimes = new List<(string Label, double Ms)>();
foreach (var (label, path, level) in new[]
{
    ("original .onnx", modelPath, "all"),
    ("optimized fp32 .onnx", engines[1].Path, "all"),
    ("optimized fp32 .onnx, optimizer off at load", engines[1].Path, "disabled"),
    ("optimized fp32 .ort", Path.ChangeExtension(engines[1].Path, ".ort"), "all"),
    ("int8 qdq .onnx", engines[^1].Path, "all"),
    ("int8 qdq .onnx, optimizer off at load", engines[^1].Path, "disabled"),
})
{
    if (!File.Exists(path))
    {
        continue;
    }

    var times = new List<double>();
    for (var i = 0; i < 5; i++)
    {
        var start = Stopwatch.GetTimestamp();
        using (new ModelExecutor(path, level))
        {
        }

        times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }

    loadTimes.Add((label, Median(times)));
}

var fp32Median = throughput[0][0];
var fp32Size = new FileInfo(modelPath).Length;
Console.WriteLine();
Console.WriteLine($"MiniLM (all-MiniLM-L6-v2), batch {settings.Batch}, seq {settings.Sequence}, CPU: {HardwareFingerprint.Current().CpuModel} " +
                  $"({Environment.ProcessorCount} logical cores; ISA {string.Join(" ", HardwareFingerprint.Current().CpuFlags)}), ONNX Runtime {Sluice.Onnx.Runtime.OnnxRuntimeInfo.Version}, " +
                  $"intra-op threads {(settings.Threads > 0 ? settings.Threads.ToString(CultureInfo.InvariantCulture) : "default")}" +
                  (settings.NoSpin ? ", intra-op spinning off" : ""));
Console.WriteLine($"Engines take turns one inference at a time for {settings.Rounds} x {settings.Seconds * executors.Count:F0}s ({latencies[0].Count} runs each); inferences/s = batch / median latency; cosine of mean-pooled embeddings vs original on {heldOutRows.Length} held-out rows.");
Console.WriteLine();
Console.WriteLine("| engine | inferences/s (median latency) | vs original | inferences/s at p10 latency | cosine mean | cosine min | file MB | vs original size | build s |");
Console.WriteLine("|---|---:|---:|---|---:|---:|---:|---:|---:|");
for (var e = 0; e < engines.Count; e++)
{
    var median = throughput[e][0];
    var size = new FileInfo(engines[e].Path).Length;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {engines[e].Label} | {median:F1} | {median / fp32Median:F2}x | {throughput[e][1]:F1} | {cosines[e].Mean:F5} | {cosines[e].Min:F5} | {size / 1e6:F1} | {100.0 * size / fp32Size:F1}% | {BuildTime(engines[e].Label)} |"));
}

Console.WriteLine();
Console.WriteLine("| session start | ms (median of 5) |");
Console.WriteLine("|---|---:|");
foreach (var (label, ms) in loadTimes)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {label} | {ms:F0} |"));
}

foreach (var executor in executors)
{
    executor.Dispose();
}

if (settings.Work is null)
{
    Directory.Delete(work, recursive: true);
}

return 0;

string BuildTime(string label) =>
    buildSeconds.Where(kv => label.StartsWith(kv.Key, StringComparison.Ordinal)).Select(kv => kv.Value.ToString("F1", CultureInfo.InvariantCulture)).FirstOrDefault() ?? "-";

static double Percentile(List<double> values, double fraction)
{
    var sorted = values.Order().ToList();
    return sorted[(int)Math.Round(fraction * (sorted.Count - 1))];
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

long[][] Rows(string[] sentences, int count, int sequence)
{
    var rows = new long[count][];
    var encoded = sentences.Select(s => tokenizer.Encode(s)[1..^1]).ToArray();
    for (var r = 0; r < count; r++)
    {
        var ids = new List<long> { 101 };
        for (var k = r; ids.Count < sequence - 1; k++)
        {
            ids.AddRange(encoded[k % encoded.Length]);
        }

        rows[r] = [.. ids.Take(sequence - 1), 102];
    }

    return rows;
}

static List<TensorData> Inputs(long[][] rows, int sequence)
{
    var ids = rows.SelectMany(r => r).ToArray();
    long[] shape = [rows.Length, sequence];
    return
    [
        TensorData.From("input_ids", shape, ids.AsSpan()),
        TensorData.From("attention_mask", shape, Enumerable.Repeat(1L, ids.Length).ToArray().AsSpan()),
        TensorData.From("token_type_ids", shape, new long[ids.Length].AsSpan()),
    ];
}

static string RequestJson(long[][] rows, int sequence)
{
    object Input(string name, IEnumerable<long> data) => new { name, shape = new[] { rows.Length, sequence }, datatype = "INT64", data };
    var ids = rows.SelectMany(r => r).ToArray();
    return JsonSerializer.Serialize(new
    {
        inputs = new[]
        {
            Input("input_ids", ids),
            Input("attention_mask", Enumerable.Repeat(1L, ids.Length)),
            Input("token_type_ids", new long[ids.Length]),
        },
    });
}

internal sealed record Settings(int Batch, int Sequence, int Rounds, double Seconds, CalibrationMethod Calibration, double GateThreshold, int Threads, bool NoSpin, string? Work)
{
    public static Settings Parse(string[] args)
    {
        string? Value(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        return new Settings(
            int.Parse(Value("--batch") ?? "8", CultureInfo.InvariantCulture),
            int.Parse(Value("--seq") ?? "128", CultureInfo.InvariantCulture),
            int.Parse(Value("--rounds") ?? "3", CultureInfo.InvariantCulture),
            double.Parse(Value("--seconds") ?? "4", CultureInfo.InvariantCulture),
            CalibrationTable.ParseMethod(Value("--calibration") ?? "percentile"),
            double.Parse(Value("--gate-threshold") ?? "0.99", CultureInfo.InvariantCulture),
            int.Parse(Value("--threads") ?? "0", CultureInfo.InvariantCulture),
            args.Contains("--no-spin"),
            Value("--work"));
    }
}
