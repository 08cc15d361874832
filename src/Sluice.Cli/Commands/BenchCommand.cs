using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Sluice.Bench;
using Sluice.Bench.Clients;
using Sluice.Bench.Load;
using Sluice.Bench.Workload;
using Sluice.Core.Configuration;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;
using Sluice.Onnx.Build;
using Sluice.Onnx.Runtime;
using Spectre.Console;

namespace Sluice.Cli.Commands;

/// <summary>
/// <c>sluice bench</c>: load generation against any KServe v2 server (HTTP JSON, HTTP binary, gRPC), peak calibration, goodput
/// against an SLO spec, and reports. The work is Sluice.Bench's; this command parses options and supplies what Bench may not
/// see itself: the ONNX Runtime session for <c>--in-process</c> and the hardware fingerprint stored with a calibration.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var defaults = new BenchOptions();
        var url = new Option<string>("--url", "-u")
        {
            Description = "KServe v2 HTTP base address of the server (also used for metadata and statistics unless --protocol grpc).",
            DefaultValueFactory = _ => "http://127.0.0.1:8000",
            HelpName = "URL",
        };
        var grpcUrl = new Option<string>("--grpc-url")
        {
            Description = "gRPC address (inference.GRPCInferenceService) for --protocol grpc.",
            DefaultValueFactory = _ => "http://127.0.0.1:8001",
            HelpName = "URL",
        };
        var protocol = new Option<string>("--protocol", "-i")
        {
            Description = "http (JSON tensors), http-binary (binary tensor extension) or grpc.",
            DefaultValueFactory = _ => "http",
        };
        protocol.AcceptOnlyFromAmong("http", "http-binary", "grpc");
        var model = new Option<string>("--model", "-m")
        {
            Description = "The model to benchmark.",
            DefaultValueFactory = _ => defaults.Model,
            HelpName = "NAME",
        };
        var version = new Option<string?>("--model-version") { Description = "The model version (default: the server's choice).", HelpName = "VERSION" };
        var batchSize = IntOption("--batch-size", "Batch size put in a dynamic first dimension of synthesized inputs.", defaults.BatchSize, 1, 65536);
        var seqLen = IntOption("--seq-len", "Length put in the other dynamic dimensions (sequence length of token models).", defaults.SequenceLength, 1, 1 << 20);
        var tokenRange = new Option<string>("--token-range")
        {
            Description = "Token ids for id-like INT64/INT32 inputs are drawn from MIN:MAX (max exclusive).",
            DefaultValueFactory = _ => "1000:30000",
            HelpName = "MIN:MAX",
        };
        var inputData = new Option<string[]>("--input-data")
        {
            Description = "Inputs from files instead of synthesized: a JSON request body (KServe v2 'inputs'), or NAME=file.npy per input (repeatable).",
            Arity = ArgumentArity.ZeroOrMore,
            HelpName = "FILE",
        };
        var output = new Option<string[]>("--output")
        {
            Description = "An output to ask for (repeatable); default: every output of the model. Large outputs the client does not need cost transfer time.",
            Arity = ArgumentArity.ZeroOrMore,
            HelpName = "NAME",
        };
        var concurrency = new Option<string?>("--concurrency", "-c")
        {
            Description = "Closed loop: requests kept in flight; a level (8), a list (1,2,8) or a sweep (1:64:x2, 4:32:+4).",
            HelpName = "N|SWEEP",
        };
        var rate = new Option<string?>("--rate", "-r")
        {
            Description = "Open loop: requests per second sent by the clock; a level (50) or a sweep (25:200:x2).",
            HelpName = "RPS|SWEEP",
        };
        var arrival = new Option<string>("--arrival")
        {
            Description = "Open-loop arrivals: constant (evenly spaced) or poisson.",
            DefaultValueFactory = _ => "constant",
        };
        arrival.AcceptOnlyFromAmong("constant", "poisson");
        var duration = new Option<TimeSpan?>("--duration", "-d")
        {
            Description = "Length of one measurement window (e.g. 10s, 500ms, 2m). Default 5s.",
            CustomParser = result => ServeCommand.ParseDuration(result),
            HelpName = "DURATION",
        };
        var requests = new Option<long?>("--requests", "-n")
        {
            Description = "Count-based windows: this many requests per window instead of --duration.",
            CustomParser = result => ServeCommand.ParseInteger(result, "--requests", 1, 100_000_000),
            HelpName = "N",
        };
        var warmup = new Option<TimeSpan>("--warmup")
        {
            Description = "Load run (and not measured) before each step.",
            DefaultValueFactory = _ => defaults.Warmup,
            CustomParser = ServeCommand.ParseDuration,
            HelpName = "DURATION",
        };
        var stability = new Option<double>("--stability-percentage")
        {
            Description = "Repeat windows until the last three windows' throughput and p99 lie within this percentage of their mean.",
            DefaultValueFactory = _ => defaults.StabilityPercentage,
            CustomParser = result => ParseDouble(result, "--stability-percentage", 0.1, 100),
            HelpName = "PERCENT",
        };
        var maxTrials = IntOption("--max-trials", "Most windows per step (1: no stability rule).", defaults.MaxTrials, 1, 1000);
        var maxInFlight = IntOption("--max-in-flight", "Open loop: the most requests outstanding; further sends are dropped and counted.", defaults.MaxInFlight, 1, 1_000_000);
        var inProcess = new Option<string?>("--in-process")
        {
            Description = "Also run the same workload on a bare ONNX Runtime session of MODEL.onnx in this process, and report the server's overhead as a ratio.",
            HelpName = "MODEL.onnx",
        };
        var calibrate = new Option<bool>("--calibrate")
        {
            Description = "Saturating closed-loop sweep (default concurrency 1:64:x2) to find the model's peak inferences/s; stored with --model-repository, else printed.",
        };
        var repository = new Option<string?>("--model-repository")
        {
            Description = "With --calibrate: write <repo>/<model>/<version>/calibration.json (exported by the server as its peak).",
            HelpName = "DIR",
        };
        var slo = new Option<string[]>("--slo")
        {
            Description = "SLO spec (Sluice or OpenSLO YAML). Without --concurrency/--rate: search the goodput (highest rate meeting every latency SLO); " +
                          "with them: judge each step and exit 1 if an SLO fails.",
            Arity = ArgumentArity.ZeroOrMore,
            HelpName = "FILE",
        };
        var goodputStart = new Option<double>("--goodput-start")
        {
            Description = "Goodput search: the first request rate tried (then doubled until an SLO fails, then bisected).",
            DefaultValueFactory = _ => defaults.GoodputStartRate,
            CustomParser = result => ParseDouble(result, "--goodput-start", 0.1, 1_000_000),
            HelpName = "RPS",
        };
        var goodputPrecision = new Option<double>("--goodput-precision")
        {
            Description = "Goodput search: stop when the last passing and first failing rate are within this fraction of each other.",
            DefaultValueFactory = _ => defaults.GoodputPrecision,
            CustomParser = result => ParseDouble(result, "--goodput-precision", 0.001, 1),
            HelpName = "FRACTION",
        };
        var report = new Option<string?>("--report")
        {
            Description = "Write bench.csv, bench.json and plots (PNG and SVG: latency vs throughput, latency CDF, server breakdown) into DIR.",
            HelpName = "DIR",
        };

        var command = new Command("bench", "Load-test a KServe v2 server: latency percentiles, throughput, server-side breakdown, peak calibration and SLO goodput.")
        {
            url, grpcUrl, protocol, model, version, batchSize, seqLen, tokenRange, inputData, output, concurrency, rate, arrival, duration, requests,
            warmup, stability, maxTrials, maxInFlight, inProcess, calibrate, repository, slo, goodputStart, goodputPrecision, report,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            var errors = new List<string>();
            var options = new BenchOptions
            {
                Model = parse.GetValue(model)!,
                ModelVersion = parse.GetValue(version),
                BatchSize = parse.GetValue(batchSize),
                SequenceLength = parse.GetValue(seqLen),
                InputData = parse.GetValue(inputData) ?? [],
                Outputs = parse.GetValue(output) ?? [],
                Arrival = parse.GetValue(arrival) == "poisson" ? ArrivalPattern.Poisson : ArrivalPattern.Constant,
                Warmup = parse.GetValue(warmup),
                StabilityPercentage = parse.GetValue(stability),
                MaxTrials = parse.GetValue(maxTrials),
                MaxInFlight = parse.GetValue(maxInFlight),
                InProcessModel = parse.GetValue(inProcess),
                Calibrate = parse.GetValue(calibrate),
                ModelRepository = parse.GetValue(repository),
                SloFiles = parse.GetValue(slo) ?? [],
                ReportDirectory = parse.GetValue(report),
                GoodputStartRate = parse.GetValue(goodputStart),
                GoodputPrecision = parse.GetValue(goodputPrecision),
                SluiceVersion = Version(),
                Protocol = parse.GetValue(protocol) switch
                {
                    "grpc" => BenchProtocol.Grpc,
                    "http-binary" => BenchProtocol.HttpBinary,
                    _ => BenchProtocol.Http,
                },
            };

            if (TryUri(parse.GetValue(url)!, "--url", errors) is { } httpUri)
            {
                options.HttpUrl = httpUri;
            }

            if (TryUri(parse.GetValue(grpcUrl)!, "--grpc-url", errors) is { } grpcUri)
            {
                options.GrpcUrl = grpcUri;
            }

            var range = parse.GetValue(tokenRange)!.Split(':');
            if (range.Length == 2 && long.TryParse(range[0], CultureInfo.InvariantCulture, out var min) && long.TryParse(range[1], CultureInfo.InvariantCulture, out var max) && min >= 0 && max > min)
            {
                options.TokenRange = (min, max);
            }
            else
            {
                errors.Add($"--token-range must be MIN:MAX with 0 <= MIN < MAX, not '{parse.GetValue(tokenRange)}'.");
            }

            if (parse.GetValue(concurrency) is { } concurrencyText)
            {
                if (LoadSweep.TryParse(concurrencyText, out var levels, out var error) && levels.All(l => l == Math.Floor(l) && l <= 100_000))
                {
                    options.Concurrency = levels.Select(l => (int)l).ToArray();
                }
                else
                {
                    errors.Add($"--concurrency '{concurrencyText}': {error ?? "levels must be whole numbers up to 100000"}.");
                }
            }

            if (parse.GetValue(rate) is { } rateText)
            {
                if (LoadSweep.TryParse(rateText, out var levels, out var error))
                {
                    options.Rate = levels;
                }
                else
                {
                    errors.Add($"--rate '{rateText}': {error}.");
                }
            }

            if (options.Concurrency is not null && options.Rate is not null)
            {
                errors.Add("--concurrency (closed loop) and --rate (open loop) exclude each other.");
            }

            if (options.Calibrate && options.Rate is not null)
            {
                errors.Add("--calibrate sweeps concurrency (closed loop); use --concurrency, not --rate.");
            }

            if (options.ModelRepository is not null && !options.Calibrate)
            {
                errors.Add("--model-repository is only used with --calibrate.");
            }

            var durationValue = parse.GetValue(duration);
            var requestsValue = parse.GetValue(requests);
            if (durationValue is not null && requestsValue is not null)
            {
                errors.Add("--duration and --requests exclude each other.");
            }
            else if (requestsValue is { } n)
            {
                options.Window = MeasurementWindow.Count(n);
            }
            else if (durationValue is { } d)
            {
                if (d <= TimeSpan.Zero)
                {
                    errors.Add("--duration must be above 0.");
                }

                options.Window = MeasurementWindow.For(d);
            }

            if (options.InProcessModel is { } file && !File.Exists(file))
            {
                errors.Add($"--in-process: no model file '{Path.GetFileName(file)}'.");
            }

            foreach (var spec in options.SloFiles.Where(f => !File.Exists(f)))
            {
                errors.Add($"--slo: no file '{Path.GetFileName(spec)}'.");
            }

            if (errors.Count > 0)
            {
                await Console.Error.WriteLineAsync($"sluice bench: error: {errors[0]} (see 'sluice bench --help')").ConfigureAwait(false);
                return Program.UsageError;
            }

            options.InProcessFactory = path => OnnxInProcessTarget.Open(path);
            if (options.Calibrate)
            {
                options.Hardware = HardwareId(HardwareFingerprint.Current());
            }

            var console = AnsiConsole.Console;
            if (Console.IsOutputRedirected)
            {
                console.Profile.Width = 220;   // logs and files: one table row per line rather than the 80-column default
            }

            return await BenchApp.RunAsync(options, console, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>A short, stable id of a hardware fingerprint: readable parts, then a hash over every field (CPU flags and GPUs included).</summary>
    internal static string HardwareId(HardwareFingerprint fingerprint)
    {
        var gpus = string.Join(",", fingerprint.Gpus.Select(g => $"{g.Name}/{g.ComputeCapability}/{g.DriverVersion}/{g.CudaVersion}"));
        var canonical = $"{fingerprint.Architecture}|{fingerprint.CpuModel}|{fingerprint.LogicalCores}|{string.Join(",", fingerprint.CpuFlags)}|{gpus}";
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)))[..12];
        var gpu = fingerprint.Gpus.Count > 0 ? $"{fingerprint.Gpus.Count}x{fingerprint.Gpus[0].Name}" : "cpu";
        return $"{fingerprint.Architecture}-{fingerprint.LogicalCores}c-{gpu}-{hash}".Replace(' ', '_');
    }

    private static string Version() =>
        typeof(BenchCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    private static Uri? TryUri(string text, string name, List<string> errors)
    {
        if (Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
        {
            return uri;
        }

        errors.Add($"{name} must be an http:// or https:// address, not '{text}'.");
        return null;
    }

    private static Option<int> IntOption(string name, string description, int defaultValue, int min, int max) =>
        new(name)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = result => (int)ServeCommand.ParseInteger(result, name, min, max),
            HelpName = "N",
        };

    private static double ParseDouble(ArgumentResult result, string name, double min, double max)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        result.AddError($"{name} must be a number between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}, not '{text}'.");
        return default;
    }

    /// <summary>A bare ONNX Runtime session (Sluice.Onnx's runner, default settings, CPU) for <c>--in-process</c>.</summary>
    private sealed class OnnxInProcessTarget(IModelRunner runner, ModelSignature signature) : IInProcessTarget
    {
        private readonly string[] _outputs = signature.Outputs.Select(o => o.Name).ToArray();

        public static OnnxInProcessTarget Open(string path)
        {
            var backend = new OnnxModelBackend();
            var signature = backend.ReadSignature(path, new ExecutionConfig());
            var config = new ModelConfig { Name = Path.GetFileNameWithoutExtension(path), Inputs = signature.Inputs, Outputs = signature.Outputs };
            return new OnnxInProcessTarget(backend.CreateRunner(config, path, new RunnerPlacement("cpu", 0, 0)), signature);
        }

        public IReadOnlyList<InputSpec> Inputs { get; } = signature.Inputs.Select(i => new InputSpec(i.Name, i.DataType, i.Dims)).ToArray();

        public async ValueTask RunAsync(IReadOnlyList<TensorData> inputs, CancellationToken cancellationToken) =>
            await runner.RunAsync(inputs, _outputs, cancellationToken).ConfigureAwait(false);

        public void Dispose() => runner.Dispose();
    }
}
