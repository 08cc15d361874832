using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Sluice.Core.Inference;
using Sluice.Engine.Hosting;
using Sluice.Engine.Profiling;
using Sluice.Server.Http;

namespace Sluice.Server.Telemetry;

/// <summary>
/// <c>POST /v2/models/{m}[/versions/{v}]/profile</c>: a per-layer profile of a loaded model on a session of its own, with the
/// inputs of its recent requests (or synthetic ones). Query: <c>runs</c>, <c>warmup</c>, <c>top</c>, <c>batch_size</c>,
/// <c>sequence_length</c>, <c>format</c> (<c>json</c>, the default, or <c>table</c>).
/// </summary>
public static class ProfileEndpoints
{
    /// <summary>Maps the profile endpoints.</summary>
    public static IEndpointRouteBuilder MapSluiceProfile(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapPost("/v2/models/{model}/profile", ProfileAsync);
        endpoints.MapPost("/v2/models/{model}/versions/{version}/profile", ProfileAsync);
        return endpoints;
    }

    private static async Task ProfileAsync(HttpContext context)
    {
        if (!ModelRoute.TryRead(context, out var name, out var version, out var routeError))
        {
            await HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, routeError).ConfigureAwait(false);
            return;
        }

        var query = context.Request.Query;
        var errors = new List<string>();
        var settings = new ProfileSettings(
            Runs: Int(query, "runs", 20, 1, 1000, errors),
            WarmupRuns: Int(query, "warmup", 3, 0, 100, errors),
            Top: Int(query, "top", 10, 1, 1000, errors),
            BatchSize: Int(query, "batch_size", 1, 1, 4096, errors),
            DynamicDimension: Int(query, "sequence_length", 128, 1, 65536, errors));
        var format = query["format"].ToString() is { Length: > 0 } f ? f : "json";
        if (format is not ("json" or "table"))
        {
            errors.Add($"format: must be json or table, not '{format}'");
        }

        if (errors.Count > 0)
        {
            await HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, string.Join("; ", errors)).ConfigureAwait(false);
            return;
        }

        var models = context.RequestServices.GetRequiredService<ModelManager>();
        if (models.GetLoadedModelFile(name, version) is not { } file)
        {
            await HttpErrors.WriteAsync(context, InferenceError.ModelNotFound,
                $"model '{name}'{(version is null ? "" : $" version {version}")} is not loaded").ConfigureAwait(false);
            return;
        }

        var recent = context.RequestServices.GetService<RecentInputs>()?.Get(name) ?? [];
        var provider = file.Config.Execution.ExecutionProvider ?? models.Options.Device;
        ModelProfileReport report;
        try
        {
            report = await Task.Run(() => ModelProfiler.Profile(name, file.Version, file.ModelPath, file.Config, provider, recent, settings, context.RequestAborted),
                context.RequestAborted).ConfigureAwait(false);
        }
        catch (InferenceException exception)
        {
            await HttpErrors.WriteAsync(context, exception).ConfigureAwait(false);
            return;
        }

        var body = Encoding.UTF8.GetBytes(format == "table" ? report.ToTable() : report.ToJson());
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = format == "table" ? "text/plain; charset=utf-8" : "application/json";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    private static int Int(IQueryCollection query, string name, int fallback, int min, int max, List<string> errors)
    {
        var text = query[name].ToString();
        if (text.Length == 0)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors.Add($"{name}: must be an integer from {min} to {max}, not '{text}'");
            return fallback;
        }

        return value;
    }
}
