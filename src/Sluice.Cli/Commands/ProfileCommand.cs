using System.CommandLine;
using System.Globalization;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Engine.Profiling;
using Sluice.Onnx.Runtime;

namespace Sluice.Cli.Commands;

/// <summary>
/// <c>sluice profile MODEL</c>: a per-layer profile (ONNX Runtime's profiler) of one model, per node and operator type. With
/// <c>--url</c> it asks a running server (<c>POST /v2/models/{m}/profile</c>), which profiles on a session of its own with the
/// inputs of recent requests; otherwise it profiles the model file in the repository with synthetic inputs.
/// </summary>
public static class ProfileCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "The model to profile (its folder name in the repository)." };
        var url = new Option<string?>("--url")
        {
            Description = "A running server's HTTP address (e.g. http://127.0.0.1:8000): profile there, with its recent real inputs.",
            HelpName = "URL",
        };
        var repository = new Option<string>("--model-repository")
        {
            Description = "Without --url: the model repository to read the model from.",
            DefaultValueFactory = _ => ServeCommand.DefaultRepository,
            HelpName = "DIR",
        };
        var version = new Option<string?>("--model-version") { Description = "The version (default: the highest).", HelpName = "N" };
        var runs = Bounded("--runs", "Measured runs.", 20, 1, 1000);
        var warmup = Bounded("--warmup", "Unmeasured runs first.", 3, 0, 100);
        var top = Bounded("--top", "How many nodes to list.", 10, 1, 1000);
        var batch = Bounded("--batch-size", "Batch size of synthetic inputs.", 1, 1, 4096);
        var sequence = Bounded("--sequence-length", "Size of the other variable dimensions of synthetic inputs.", 128, 1, 65536);
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table." };
        var device = new Option<string>("--device") { Description = "Execution provider without --url.", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda", "tensorrt");

        var command = new Command("profile", "Per-layer profile of a model (ONNX Runtime's profiler): time per node and per operator type.")
        {
            model, url, repository, version, runs, warmup, top, batch, sequence, json, device,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var name = parse.GetValue(model)!;
            var settings = new ProfileSettings(parse.GetValue(runs), parse.GetValue(warmup), parse.GetValue(top), parse.GetValue(batch), parse.GetValue(sequence));
            var asJson = parse.GetValue(json);
            try
            {
                var text = parse.GetValue(url) is { } address
                    ? await RemoteAsync(address, name, parse.GetValue(version), settings, asJson, cancellationToken).ConfigureAwait(false)
                    : Local(parse.GetValue(repository)!, name, parse.GetValue(version), settings, parse.GetValue(device)!, asJson, cancellationToken);
                await Console.Out.WriteLineAsync(text).ConfigureAwait(false);
                return 0;
            }
            catch (InferenceException exception)
            {
                await Console.Error.WriteLineAsync($"sluice profile: error: {exception.Message}").ConfigureAwait(false);
                return 1;
            }
            catch (HttpRequestException exception)
            {
                await Console.Error.WriteLineAsync($"sluice profile: error: {exception.Message}").ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }

    private static async Task<string> RemoteAsync(string address, string model, string? version, ProfileSettings settings, bool json, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(address, UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
        {
            throw new InferenceException(InferenceError.InvalidInput, $"--url: '{address}' is not an http address");
        }

        using var client = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromMinutes(10) };
        var path = version is null ? $"v2/models/{Uri.EscapeDataString(model)}/profile" : $"v2/models/{Uri.EscapeDataString(model)}/versions/{Uri.EscapeDataString(version)}/profile";
        var query = string.Create(CultureInfo.InvariantCulture,
            $"?runs={settings.Runs}&warmup={settings.WarmupRuns}&top={settings.Top}&batch_size={settings.BatchSize}&sequence_length={settings.DynamicDimension}&format={(json ? "json" : "table")}");
        using var response = await client.PostAsync(path + query, null, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new InferenceException(InferenceError.InvalidInput, $"the server answered {(int)response.StatusCode}: {body}");
        }

        return body.TrimEnd();
    }

    private static string Local(string repository, string model, string? version, ProfileSettings settings, string device, bool json, CancellationToken cancellationToken)
    {
        var folder = Path.Combine(Path.GetFullPath(repository), model);
        if (!Directory.Exists(folder))
        {
            throw new InferenceException(InferenceError.ModelNotFound, $"MODEL: no folder '{model}' in the model repository");
        }

        version ??= Directory.EnumerateDirectories(folder).Select(Path.GetFileName)
            .Where(static v => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            .OrderByDescending(static v => long.Parse(v!, CultureInfo.InvariantCulture)).FirstOrDefault()
            ?? throw new InferenceException(InferenceError.ModelNotFound, $"MODEL: '{model}' has no numeric version folder");
        var modelPath = Path.Combine(folder, version, "model.onnx");
        if (!File.Exists(modelPath))
        {
            throw new InferenceException(InferenceError.ModelNotFound, $"--model-version: '{model}/{version}/model.onnx' does not exist");
        }

        // Synthetic inputs from the file's own signature: a leading variable dimension is the batch, the others the sequence.
        var signature = new OnnxModelBackend().ReadSignature(modelPath, new ExecutionConfig());
        var inputs = signature.Inputs
            .Select(i => i with { Dims = [.. i.Dims.Select((d, index) => d >= 0 ? d : index == 0 ? settings.BatchSize : settings.DynamicDimension)] })
            .ToList();
        var config = new ModelConfig { Name = model, Inputs = inputs, Outputs = signature.Outputs };
        var report = ModelProfiler.Profile(model, version, modelPath, config, device, [], settings, cancellationToken);
        return json ? report.ToJson() : report.ToTable();
    }

    private static Option<int> Bounded(string name, string description, int fallback, int min, int max) =>
        new(name)
        {
            Description = description,
            DefaultValueFactory = _ => fallback,
            CustomParser = result => (int)ServeCommand.ParseInteger(result, name, min, max),
            HelpName = "N",
        };
}
