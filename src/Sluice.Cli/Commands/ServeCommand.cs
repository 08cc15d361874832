using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;
using Sluice.Engine.Hosting;
using Sluice.Server.Hosting;
using Sluice.Server.Slo;

namespace Sluice.Cli.Commands;

/// <summary><c>sluice serve</c>: serves a model repository over KServe v2 HTTP and gRPC until SIGTERM.</summary>
internal static class ServeCommand
{
    /// <summary>The repository used when none is given; the demo model is written into it.</summary>
    public const string DefaultRepository = "./model_repository";

    public static Command Create()
    {
        var defaults = new SluiceServerOptions();
        var repository = new Option<string?>("--model-repository")
        {
            Description = $"Model repository folder (<repo>/<model>/<version>/model.onnx, with config.yaml or Triton's config.pbtxt). " +
                          $"Default: {DefaultRepository}, where the demo models (all-MiniLM-L6-v2 embeddings, the tiny-llama decoder) are written on first start.",
            HelpName = "DIR",
        };
        var controlMode = new Option<string>("--model-control-mode")
        {
            Description = "none: load every model at start; poll: also watch the repository and load/unload versions as they change; " +
                          "explicit: load only --load-model models and what the repository API asks for.",
            DefaultValueFactory = _ => "none",
        };
        controlMode.AcceptOnlyFromAmong("none", "poll", "explicit");
        var loadModel = new Option<string[]>("--load-model")
        {
            Description = "With --model-control-mode explicit: a model to load at start (repeatable; '*' loads all).",
            HelpName = "NAME",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var httpPort = PortOption("--http-port", "Port of the HTTP endpoints: KServe v2 and the OpenAI API (HTTP/1.1 and h2c); 0 picks a free port.", defaults.HttpPort);
        var grpcPort = PortOption("--grpc-port", "Port of the gRPC service inference.GRPCInferenceService (HTTP/2); 0 picks a free port.", defaults.GrpcPort);
        var address = new Option<string>("--address")
        {
            Description = "Address both ports listen on, e.g. 0.0.0.0 (all IPv4), :: (all IPv6) or 127.0.0.1 (this machine only).",
            DefaultValueFactory = _ => defaults.ListenAddress,
        };
        address.Validators.Add(static result =>
        {
            if (result.GetValueOrDefault<string>() is { } value && !IPAddress.TryParse(value, out _))
            {
                result.AddError($"'{value}' is not an IP address for --address.");
            }
        });
        var device = new Option<string>("--device")
        {
            Description = "Default ONNX Runtime execution provider for models whose config does not choose one.",
            DefaultValueFactory = _ => "cpu",
        };
        device.AcceptOnlyFromAmong("cpu", "cuda", "tensorrt");
        var enableManagement = new Option<bool>("--enable-model-management")
        {
            Description = "Serve POST /v2/repository/models/{m}/load and /unload (and their gRPC twins); needs --management-token.",
        };
        var token = new Option<string?>("--management-token")
        {
            Description = "Bearer token that management calls must carry (Authorization: Bearer <token>).",
            HelpName = "TOKEN",
        };
        var maxBody = new Option<long>("--max-request-body-bytes")
        {
            Description = "Largest request body accepted; larger requests get 413.",
            DefaultValueFactory = _ => defaults.MaxRequestBodyBytes,
            CustomParser = static result => ParseInteger(result, "--max-request-body-bytes", 1024, int.MaxValue),
            HelpName = "BYTES",
        };
        var drainTimeout = new Option<TimeSpan>("--drain-timeout")
        {
            Description = "On SIGTERM, how long to wait for in-flight requests after readiness turns false (e.g. 30s, 500ms, 2m).",
            DefaultValueFactory = _ => defaults.DrainTimeout,
            CustomParser = ParseDuration,
            HelpName = "DURATION",
        };

        var sloSpec = new Option<string?>("--slo-spec")
        {
            Description = "SLO spec to evaluate in-process (Sluice YAML or OpenSLO v1; see GET /v2/slo). " +
                          "Default: the built-in spec of examples/slo.yaml (the demo model's latency, throughput and memory SLOs).",
            HelpName = "FILE",
        };
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Folder for the server's state: the SLO history (slo-history.db), kept across restarts.",
            DefaultValueFactory = _ => defaults.DataDirectory,
            HelpName = "DIR",
        };
        var sloWebhook = new Option<string?>("--slo-webhook-url")
        {
            Description = "Alertmanager-compatible webhook that SLO alert transitions (firing, resolved) are POSTed to.",
            HelpName = "URL",
        };

        var metricsPort = PortOption("--metrics-port", "Port of the Prometheus metrics endpoint (/metrics, Triton's nv_inference_* names); 0 picks a free port.", defaults.MetricsPort);
        var noTelemetry = new Option<bool>("--no-telemetry")
        {
            Description = "Turn all telemetry off: no metrics port, no request spans, no recent-input capture, no live profiling.",
        };
        var profileSampleRate = new Option<int>("--profile-sample-rate")
        {
            Description = "Live per-layer profiling: profile 1 in N batches of each model on a shadow session (sluice_layer_duration_seconds); 0 = off.",
            DefaultValueFactory = _ => 0,
            CustomParser = static result => (int)ParseInteger(result, "--profile-sample-rate", 0, int.MaxValue),
            HelpName = "N",
        };
        var latencyBuckets = new Option<double[]>("--latency-buckets")
        {
            Description = "Extra latency histogram bucket boundaries in seconds (repeatable); every SLO latency threshold is always one.",
            HelpName = "SECONDS",
            Arity = ArgumentArity.ZeroOrMore,
        };

        var allowMismatch = new Option<bool>("--allow-hardware-mismatch")
        {
            Description = "Load engines from 'sluice build' even when their manifest's hardware fingerprint differs from this machine's (logged as a warning).",
        };

        var threadPoolSpin = new Option<int>(ThreadPoolSpinOption)
        {
            Description = "How long idle thread-pool threads spin for new work before sleeping (the runtime's UnfairSemaphoreSpinLimit; "
                + $"0 keeps the runtime's 70). Default: {GpuThreadPoolSpin} with --device cuda or tensorrt, where idle cores keep the request "
                + "path's threads awake between a batch's requests and answers (shorter round trips); the runtime's own on CPU, where "
                + "spinning would take cores from inference.",
            CustomParser = static result => (int)ParseInteger(result, ThreadPoolSpinOption, 0, 1_000_000),
            HelpName = "N",
        };
        var inlineIo = new Option<bool>("--inline-io")
        {
            Description = "Run socket I/O continuations on the I/O threads instead of the thread pool: shorter round trips on an idle many-core machine (GPU serving), but a slow HTTP/1.1 request then delays others on its I/O thread.",
        };

        var command = new Command("serve", "Serve a model repository over KServe v2 HTTP and gRPC and the OpenAI API until SIGTERM or Ctrl+C.")
        {
            repository, controlMode, loadModel, httpPort, grpcPort, address, device, enableManagement, token, maxBody, drainTimeout,
            sloSpec, dataDir, sloWebhook, metricsPort, noTelemetry, profileSampleRate, latencyBuckets, allowMismatch, inlineIo, threadPoolSpin,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            var server = new SluiceServerOptions
            {
                HttpPort = parse.GetValue(httpPort),
                GrpcPort = parse.GetValue(grpcPort),
                ListenAddress = parse.GetValue(address)!,
                MaxRequestBodyBytes = parse.GetValue(maxBody),
                EnableModelManagement = parse.GetValue(enableManagement),
                ManagementToken = parse.GetValue(token),
                DrainTimeout = parse.GetValue(drainTimeout),
                SloSpecPath = parse.GetValue(sloSpec),
                DataDirectory = parse.GetValue(dataDir)!,
                SloWebhookUrl = parse.GetValue(sloWebhook),
                MetricsPort = parse.GetValue(metricsPort),
                EnableTelemetry = !parse.GetValue(noTelemetry),
                ProfileSampleRate = parse.GetValue(profileSampleRate),
                LatencyBucketsSeconds = parse.GetValue(latencyBuckets) ?? [],
                InlineIo = parse.GetValue(inlineIo),
            };
            var repositoryPath = parse.GetValue(repository);
            var mode = parse.GetValue(controlMode) switch
            {
                "poll" => ModelControlMode.Poll,
                "explicit" => ModelControlMode.Explicit,
                _ => ModelControlMode.None,
            };
            var startupModels = parse.GetValue(loadModel) ?? [];

            var errors = ValidateServer(server);
            if (startupModels.Length > 0 && mode != ModelControlMode.Explicit)
            {
                errors.Add("--load-model needs --model-control-mode explicit.");
            }

            if (errors.Count > 0)
            {
                await Console.Error.WriteLineAsync($"sluice serve: error: {errors[0]} (see 'sluice serve --help')").ConfigureAwait(false);
                return Program.UsageError;
            }

            WebApplication app;
            try
            {
                app = SluiceApplication.Build(server, options =>
                {
                    options.RepositoryPath = Path.GetFullPath(repositoryPath ?? DefaultRepository);
                    options.WriteDemoModel = repositoryPath is null;
                    options.ControlMode = mode;
                    options.AllowHardwareMismatch = parse.GetValue(allowMismatch);
                    options.Device = parse.GetValue(device)!;
                    foreach (var model in startupModels)
                    {
                        options.StartupModels.Add(model);
                    }
                });
            }
            catch (OptionsValidationException exception)
            {
                await Console.Error.WriteLineAsync($"sluice serve: error: {string.Join("; ", exception.Failures)}").ConfigureAwait(false);
                return Program.UsageError;
            }
            catch (SloSpecException exception)
            {
                foreach (var error in exception.Errors)
                {
                    await Console.Error.WriteLineAsync($"sluice serve: error: SLO spec {error}").ConfigureAwait(false);
                }

                return Program.UsageError;
            }

            await using (app.ConfigureAwait(false))
            {
                await app.RunAsync().ConfigureAwait(false);   // returns after SIGTERM / Ctrl+C and a completed drain
            }

            return 0;
        });
        return command;
    }

    private const string ThreadPoolSpinOption = "--thread-pool-spin";

    /// <summary>The runtime setting <c>--thread-pool-spin</c> sets; read once, when the first thread-pool worker starts.</summary>
    internal const string SpinLimitSetting = "System.Threading.ThreadPool.UnfairSemaphoreSpinLimit";

    /// <summary>
    /// Applies the serve options the runtime reads once at start: <c>--thread-pool-spin</c> (when the pool starts its first
    /// worker) and the socket half of <c>--inline-io</c> (when the first socket is made). Called by <c>Main</c> right after
    /// parsing, before either has happened; later they would have no effect.
    /// </summary>
    internal static void ApplyRuntimeSettings(ParseResult parsed)
    {
        if (parsed.CommandResult.Command.Name != "serve")
        {
            return;
        }

        if (parsed.GetValue<bool>("--inline-io"))
        {
            Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
        }

        var spin = parsed.GetResult(ThreadPoolSpinOption) is OptionResult { Implicit: false } given
            ? given.GetValueOrDefault<int>()
            : parsed.GetValue<string>("--device") is "cuda" or "tensorrt" ? GpuThreadPoolSpin : 0;
        if (spin > 0)
        {
            AppContext.SetData(SpinLimitSetting, spin);
        }
    }

    /// <summary>
    /// The GPU default of <c>--thread-pool-spin</c>. On an H100 machine (16 cores), against the runtime's 70: two CUDA-graph BERT
    /// instances at concurrency 32 served 83-85 % of the bare engine's batch-32 throughput instead of 61-65 %, and a lone
    /// request's round trip through a stub model fell from 0.83 to 0.69 ms (BENCHMARKS.md, GPU serving).
    /// </summary>
    internal const int GpuThreadPoolSpin = 5000;

    /// <summary>Rules that span options, worded with the command-line flags; then the server's own validation.</summary>
    private static List<string> ValidateServer(SluiceServerOptions server)
    {
        var errors = new List<string>();
        if (server.EnableModelManagement && string.IsNullOrWhiteSpace(server.ManagementToken))
        {
            errors.Add("--enable-model-management needs --management-token.");
        }

        if (server.HttpPort != 0 && server.HttpPort == server.GrpcPort)
        {
            errors.Add($"--http-port and --grpc-port must differ (both are {server.HttpPort}).");
        }

        if (server.SloWebhookUrl is { } webhook
            && (!Uri.TryCreate(webhook, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
        {
            errors.Add($"--slo-webhook-url must be an absolute http or https URL, not '{webhook}'.");
        }

        errors.AddRange(server.Validate());
        return errors;
    }

    private static Option<int> PortOption(string name, string description, int defaultValue) =>
        new(name)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            HelpName = "PORT",
            CustomParser = result => (int)ParseInteger(result, name, 0, 65535),
        };

    /// <summary>Parses an integer option within bounds, reporting one clear error otherwise.</summary>
    internal static long ParseInteger(ArgumentResult result, string name, long min, long max)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        result.AddError($"{name} must be an integer between {min} and {max}, not '{text}'.");
        return default;
    }

    /// <summary>Parses <c>30s</c>, <c>500ms</c>, <c>2m</c>, or a plain number of seconds.</summary>
    internal static TimeSpan ParseDuration(ArgumentResult result)
    {
        var text = result.Tokens.Count == 1 ? result.Tokens[0].Value.Trim() : "";
        if (TryParseDuration(text, out var value) && value >= TimeSpan.Zero && value <= TimeSpan.FromHours(1))
        {
            return value;
        }

        var name = result.Parent is OptionResult option ? option.Option.Name : "the option";
        result.AddError($"'{text}' is not a duration between 0s and 1h for {name} (use e.g. 30s, 500ms, 2m).");
        return default;
    }

    internal static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        (string Suffix, double Seconds)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)];
        foreach (var (suffix, seconds) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                && double.IsFinite(number))
            {
                value = TimeSpan.FromSeconds(number * seconds);
                return true;
            }
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var plain) && double.IsFinite(plain))
        {
            value = TimeSpan.FromSeconds(plain);
            return true;
        }

        return false;
    }
}
