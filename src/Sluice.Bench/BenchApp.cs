using System.Globalization;
using Sluice.Bench.Calibration;
using Sluice.Bench.Clients;
using Sluice.Bench.Load;
using Sluice.Bench.Reporting;
using Sluice.Bench.Slo;
using Sluice.Bench.Workload;
using Sluice.Slo.Spec;
using Spectre.Console;

namespace Sluice.Bench;

/// <summary>Exit codes of <c>sluice bench</c>.</summary>
public static class BenchExitCodes
{
    /// <summary>The run completed (and the SLOs held, when given).</summary>
    public const int Success = 0;

    /// <summary><c>--slo</c> was given and an SLO failed at the requested load (or no rate met them in a goodput search).</summary>
    public const int SloFailed = 1;

    /// <summary>Invalid options or input files.</summary>
    public const int UsageError = 2;

    /// <summary>The benchmark could not run (target unreachable, model unknown).</summary>
    public const int Failed = 3;
}

/// <summary>
/// <c>sluice bench</c> end to end: resolve the model's inputs, then run a sweep, a calibration or a goodput search,
/// optionally the same workload in-process, then print the table and write the report.
/// </summary>
/// <remarks>
/// <list type="number">
/// <item>Read the SLO spec (when given), resolve the model's metadata, build the workload (data files or synthesized).</item>
/// <item>Create the protocol client; the request is encoded once.</item>
/// <item>Run the mode: <c>--calibrate</c> (closed-loop saturating sweep), goodput (<c>--slo</c> without a load: search
/// over open-loop rates), or the requested sweep (judged against the SLOs when given).</item>
/// <item><c>--in-process</c>: the same levels against a bare session, and the overhead ratios.</item>
/// <item>Table, calibration file, report folder; the exit code.</item>
/// </list>
/// </remarks>
public static class BenchApp
{
    /// <summary>Runs the benchmark; returns one of <see cref="BenchExitCodes"/>.</summary>
    public static async Task<int> RunAsync(BenchOptions options, IAnsiConsole console, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(console);
        try
        {
            return await RunCoreAsync(options, console, cancellationToken).ConfigureAwait(false);
        }
        catch (BenchException exception)
        {
            console.MarkupLine("[red]sluice bench: error:[/] " + Markup.Escape(exception.Message));
            return BenchExitCodes.Failed;
        }
        catch (InvalidDataException exception)
        {
            console.MarkupLine("[red]sluice bench: error:[/] " + Markup.Escape(exception.Message));
            return BenchExitCodes.UsageError;
        }
    }

    private static async Task<int> RunCoreAsync(BenchOptions options, IAnsiConsole console, CancellationToken cancellationToken)
    {
        // :: Step 1: SLO spec, metadata, workload.
        SloJudge? judge = null;
        if (options.SloFiles.Count > 0)
        {
            var set = SloSpecLoader.LoadFiles(options.SloFiles);
            if (!set.IsValid)
            {
                throw new InvalidDataException("the SLO spec is invalid: " + string.Join("; ", set.Errors.Select(e => e.ToString())));
            }

            judge = new SloJudge(set.Slos, options.Model, options.ModelVersion);
            if (judge.Latency.Count == 0)
            {
                throw new InvalidDataException($"the SLO spec has no latency SLO for model '{options.Model}'");
            }
        }

        using var httpClient = HttpInferClient.CreateHttpClient();
        using var grpc = options.Protocol == BenchProtocol.Grpc ? new GrpcInferClient(options.GrpcUrl) : null;
        IModelControl control = grpc is not null ? grpc : new HttpModelControl(httpClient, options.HttpUrl);
        var metadata = await control.GetMetadataAsync(options.Model, options.ModelVersion, cancellationToken).ConfigureAwait(false);
        var workload = options.InputData.Count > 0
            ? DataFileReader.Read(options.InputData, metadata.Inputs)
            : InputSynthesizer.Synthesize(metadata.Inputs, new SynthesisOptions
            {
                BatchSize = options.BatchSize, SequenceLength = options.SequenceLength, TokenMin = options.TokenRange.Min, TokenMax = options.TokenRange.Max,
            });

        // :: Step 2: the protocol client, asking for the chosen outputs (a model's large outputs cost transfer it may not need).
        var unknown = options.Outputs.Where(o => !metadata.Outputs.Contains(o)).ToArray();
        if (unknown.Length > 0)
        {
            throw new InvalidDataException($"--output: model '{options.Model}' has no output {string.Join(", ", unknown.Select(u => $"'{u}'"))} " +
                $"(outputs: {string.Join(", ", metadata.Outputs)})");
        }

        var outputs = options.Outputs.Count > 0 ? options.Outputs : metadata.Outputs;
        IInferClient client;
        if (grpc is not null)
        {
            grpc.Prepare(options.Model, options.ModelVersion, workload, outputs);
            client = grpc;
        }
        else
        {
            client = new HttpInferClient(options.HttpUrl, options.Model, options.ModelVersion, workload, outputs,
                binary: options.Protocol == BenchProtocol.HttpBinary, httpClient);
        }

        var settings = new BenchSettings
        {
            Model = options.Model, Version = options.ModelVersion, Window = options.Window, Warmup = options.Warmup,
            StabilityPercentage = options.StabilityPercentage, MaxTrials = options.MaxTrials, InferencesPerRequest = workload.InferencesPerRequest,
            MaxInFlight = options.MaxInFlight,
        };
        var target = grpc is not null ? options.GrpcUrl.ToString() : options.HttpUrl.ToString();
        var protocol = client.Protocol;

        // :: Step 3: the mode.
        int exitCode = BenchExitCodes.Success;
        string mode;
        IReadOnlyList<StepResult> steps;
        CalibrationRecord? calibration = null;
        double? goodput = null;
        bool explicitLoad = options.Concurrency is not null || options.Rate is not null;
        var title = $"{options.Model} via {protocol}";
        if (options.Calibrate)
        {
            mode = "calibrate";
            var concurrencies = options.Concurrency ?? [1, 2, 4, 8, 16, 32, 64];
            var result = await ConsoleReport.WithProgressAsync(console, title + " (calibrate)", progress =>
                new BenchRunner(client, control, settings, progress) { Judge = judge }.CalibrateAsync(concurrencies, cancellationToken)).ConfigureAwait(false);
            steps = result.Steps;
            calibration = new CalibrationRecord(result.Peak.InferencesPerSecond, result.Peak.Level.Concurrency ?? 0, workload.InferencesPerRequest,
                DateTimeOffset.UtcNow, options.Hardware, options.SluiceVersion);
        }
        else if (judge is not null && !explicitLoad)
        {
            mode = "goodput";
            var result = await ConsoleReport.WithProgressAsync(console, title + " (goodput search)", progress =>
                new BenchRunner(client, control, settings, progress) { Judge = judge }
                    .FindGoodputAsync(options.GoodputStartRate, options.Arrival, options.GoodputPrecision, options.GoodputMaxRate, MinGoodputRate(options), cancellationToken)).ConfigureAwait(false);
            steps = result.Steps;
            goodput = result.RequestsPerSecond;
            if (result.Best is null)
            {
                exitCode = BenchExitCodes.SloFailed;
            }
        }
        else
        {
            mode = "sweep";
            var levels = Levels(options);
            steps = await ConsoleReport.WithProgressAsync(console, title, progress =>
                new BenchRunner(client, control, settings, progress) { Judge = judge }.RunSweepAsync(levels, cancellationToken)).ConfigureAwait(false);
            if (judge is not null && steps.Any(s => !s.SloMet))
            {
                exitCode = BenchExitCodes.SloFailed;
            }
        }

        // :: Step 4: the same levels in-process.
        IReadOnlyList<StepResult>? inProcessSteps = null;
        if (options.InProcessModel is { } modelFile)
        {
            var factory = options.InProcessFactory ?? throw new BenchException("--in-process is not available in this build");
            using var session = factory(modelFile);
            using var inProcess = new InProcessInferClient(session, workload);
            var inProcessSettings = settings with { Model = Path.GetFileName(modelFile) };
            inProcessSteps = await ConsoleReport.WithProgressAsync(console, "in-process", progress =>
                new BenchRunner(inProcess, null, inProcessSettings, progress).RunSweepAsync(steps.Select(s => s.Level).ToArray(), cancellationToken)).ConfigureAwait(false);
        }

        // :: Step 5: output.
        var report = new BenchReport
        {
            Target = target, Protocol = protocol, Model = options.Model, Mode = mode, Steps = steps, Calibration = calibration,
            GoodputRequestsPerSecond = goodput, InProcessSteps = inProcessSteps, SlosNotJudged = judge?.NotJudged ?? [],
        };
        ConsoleReport.Write(console, report);
        if (mode == "goodput" && exitCode == BenchExitCodes.SloFailed)
        {
            console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"no rate down to {MinGoodputRate(options):0.##}/s met every latency SLO (a step needs at least {MinRequestsPerGoodputStep} requests; lengthen --duration to try lower rates)")));
        }
        if (calibration is not null)
        {
            if (options.ModelRepository is { } repository)
            {
                var version = options.ModelVersion ?? metadata.Versions.OrderByDescending(v => long.TryParse(v, out var n) ? n : -1).FirstOrDefault()
                    ?? throw new BenchException($"the server reports no version of '{options.Model}'; pass --model-version");
                var path = calibration.WriteTo(repository, options.Model, version);
                console.MarkupLine(Markup.Escape($"calibration written to {path}"));
            }
            else
            {
                console.WriteLine(calibration.ToJson());
            }
        }

        if (options.ReportDirectory is { } directory)
        {
            var files = ReportWriter.Write(report, directory);
            console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"report: {files.Count} files in {directory}")));
        }

        if (grpc is null)
        {
            client.Dispose();
        }

        return exitCode;
    }

    /// <summary>Requests a goodput step must carry at least to judge an objective at all.</summary>
    public const int MinRequestsPerGoodputStep = 20;

    /// <summary>The lowest rate a goodput search tries: one whose window still holds <see cref="MinRequestsPerGoodputStep"/> requests.</summary>
    public static double MinGoodputRate(BenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Window.Duration is { } duration ? MinRequestsPerGoodputStep / duration.TotalSeconds : 0.1;
    }

    /// <summary>The levels of a plain sweep: the concurrencies, else the rates, else concurrency 1.</summary>
    public static IReadOnlyList<LoadLevel> Levels(BenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Rate is { } rates)
        {
            return rates.Select(r => LoadLevel.Open(r, options.Arrival)).ToArray();
        }

        return (options.Concurrency ?? [1]).Select(LoadLevel.Closed).ToArray();
    }
}
