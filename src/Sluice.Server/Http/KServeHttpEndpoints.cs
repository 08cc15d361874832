using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Server.Errors;
using Sluice.Server.Hosting;

namespace Sluice.Server.Http;

/// <summary>The KServe v2 / Triton HTTP endpoints.</summary>
public static class KServeHttpEndpoints
{
    private static readonly string[] Extensions =
        ["binary_tensor_data", "model_repository", "model_repository(unload_dependents)", "statistics", "model_configuration", "schedule_policy", "generate"];

    private static readonly string ServerVersion =
        typeof(KServeHttpEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>Maps every KServe v2 HTTP endpoint; they answer only on the HTTP listener.</summary>
    public static IEndpointRouteBuilder MapKServeHttp(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapGet("/v2", ServerMetadataAsync);
        endpoints.MapGet("/v2/health/live", static context => WriteEmptyAsync(context, StatusCodes.Status200OK));
        endpoints.MapGet("/v2/health/ready", ServerReadyAsync);

        endpoints.MapGet("/v2/models/stats", StatisticsAsync);
        foreach (var prefix in (string[])["/v2/models/{model}", "/v2/models/{model}/versions/{version}"])
        {
            endpoints.MapGet(prefix, ModelMetadataAsync);
            endpoints.MapGet(prefix + "/ready", ModelReadyAsync);
            endpoints.MapPost(prefix + "/infer", InferAsync);
            endpoints.MapGet(prefix + "/config", ModelConfigAsync);
            endpoints.MapGet(prefix + "/stats", StatisticsAsync);
        }

        endpoints.MapPost("/v2/repository/index", RepositoryIndexAsync);
        endpoints.MapPost("/v2/repository/models/{model}/load", static context => ManageAsync(context, load: true));
        endpoints.MapPost("/v2/repository/models/{model}/unload", static context => ManageAsync(context, load: false));
        return endpoints;
    }

    private static Task ServerMetadataAsync(HttpContext context) =>
        WriteJsonAsync(context, new ServerMetadataBody("sluice", ServerVersion, Extensions), KServeJsonContext.Default.ServerMetadataBody);

    private static Task ServerReadyAsync(HttpContext context)
    {
        var lifecycle = context.RequestServices.GetRequiredService<ServerLifecycle>();
        return lifecycle.IsDraining
            ? HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, "server is not ready: shutting down")
            : WriteEmptyAsync(context, StatusCodes.Status200OK);
    }

    private static async Task ModelMetadataAsync(HttpContext context)
    {
        if (!TryReadModel(context, out var name, out var version, out var invalid))
        {
            await invalid.ConfigureAwait(false);
            return;
        }

        var repository = context.RequestServices.GetRequiredService<IModelRepositoryService>();
        await RunAsync(context, () =>
            WriteJsonAsync(context, repository.GetModelMetadata(name, version).ToBody(), KServeJsonContext.Default.ModelMetadataBody)).ConfigureAwait(false);
    }

    private static async Task ModelReadyAsync(HttpContext context)
    {
        if (!TryReadModel(context, out var name, out var version, out var invalid))
        {
            await invalid.ConfigureAwait(false);
            return;
        }

        var repository = context.RequestServices.GetRequiredService<IModelRepositoryService>();
        var ready = repository.IsModelReady(name, version);
        await (ready
            ? WriteEmptyAsync(context, StatusCodes.Status200OK)
            : HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, $"model '{name}' is not ready")).ConfigureAwait(false);
    }

    private static async Task ModelConfigAsync(HttpContext context)
    {
        if (!TryReadModel(context, out var name, out var version, out var invalid))
        {
            await invalid.ConfigureAwait(false);
            return;
        }

        var repository = context.RequestServices.GetRequiredService<IModelRepositoryService>();
        await RunAsync(context, () =>
            WriteJsonAsync(context, repository.GetModelConfig(name, version).ToBody(), KServeJsonContext.Default.ModelConfigBody)).ConfigureAwait(false);
    }

    private static async Task StatisticsAsync(HttpContext context)
    {
        string? name = null;
        string? version = null;
        if (context.Request.RouteValues.ContainsKey("model") && !TryReadModel(context, out name, out version, out var invalid))
        {
            await invalid.ConfigureAwait(false);
            return;
        }

        var repository = context.RequestServices.GetRequiredService<IModelRepositoryService>();
        await RunAsync(context, () =>
            WriteJsonAsync(context, repository.GetStatistics(name, version).ToBody(), KServeJsonContext.Default.StatisticsBody)).ConfigureAwait(false);
    }

    private static async Task RepositoryIndexAsync(HttpContext context)
    {
        var readyOnly = false;
        var options = context.RequestServices.GetRequiredService<IOptions<SluiceServerOptions>>().Value;
        var body = await ReadSmallBodyAsync(context, maxBytes: 64 * 1024).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }

        if (body.Length > 0)
        {
            try
            {
                var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = options.MaxJsonDepth });
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                {
                    throw new JsonException("not an object");
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var property = reader.GetString();
                    reader.Read();
                    if (property == "ready")
                    {
                        if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                        {
                            await HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, "'ready' must be a boolean").ConfigureAwait(false);
                            return;
                        }

                        readyOnly = reader.GetBoolean();
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
            catch (JsonException)
            {
                await HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest,
                    "the repository index request must be a JSON object like {\"ready\": true}").ConfigureAwait(false);
                return;
            }
        }

        var repository = context.RequestServices.GetRequiredService<IModelRepositoryService>();
        var index = repository.GetIndex(readyOnly).Select(static e => new RepositoryIndexBody(e.Name, e.Version, e.State, e.Reason)).ToList();
        await WriteJsonAsync(context, (IReadOnlyList<RepositoryIndexBody>)index, KServeJsonContext.Default.IReadOnlyListRepositoryIndexBody).ConfigureAwait(false);
    }

    /// <summary>Load or unload: 404 unless management is enabled, 401 without the configured bearer token.</summary>
    private static async Task ManageAsync(HttpContext context, bool load)
    {
        var options = context.RequestServices.GetRequiredService<IOptions<SluiceServerOptions>>().Value;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(KServeHttpEndpoints));
        if (!options.EnableModelManagement)
        {
            await HttpErrors.WriteAsync(context, StatusCodes.Status404NotFound,
                "model management is disabled; start the server with --enable-model-management").ConfigureAwait(false);
            return;
        }

        if (!HasManagementToken(context.Request, options.ManagementToken!))
        {
            logger.ManagementDenied(context.Request.Path, context.Connection.RemoteIpAddress?.ToString(), "missing or wrong bearer token");
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await HttpErrors.WriteAsync(context, InferenceError.Unauthorized,
                "the Authorization header must carry the management token as 'Bearer <token>'").ConfigureAwait(false);
            return;
        }

        if (!TryReadModel(context, out var name, out _, out var invalid))
        {
            await invalid.ConfigureAwait(false);
            return;
        }

        var repository = context.RequestServices.GetRequiredService<IModelRepositoryService>();
        await RunAsync(context, async () =>
        {
            if (load)
            {
                await repository.LoadModelAsync(name, context.RequestAborted).ConfigureAwait(false);
            }
            else
            {
                await repository.UnloadModelAsync(name, context.RequestAborted).ConfigureAwait(false);
            }

            await WriteEmptyAsync(context, StatusCodes.Status200OK).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>Compares the bearer token in constant time (hashes first, so the length leaks nothing either).</summary>
    internal static bool HasManagementToken(HttpRequest request, string expected)
    {
        var header = request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = SHA256.HashData(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()));
        var wanted = SHA256.HashData(Encoding.UTF8.GetBytes(expected));
        return CryptographicOperations.FixedTimeEquals(given, wanted);
    }

    /// <summary>
    /// Serves one infer request.
    /// </summary>
    /// <remarks>
    /// <list type="number">
    /// <item>Validate the route and admit the request unless draining (503 Draining with Retry-After).</item>
    /// <item>Decide 413 from Content-Length before reading; read the body (Kestrel's limit backs up chunked bodies).</item>
    /// <item>Decode JSON and binary tensors, stamping <see cref="RequestTimestamps.Received"/>.</item>
    /// <item>Run it through the engine, which validates against the model, queues and batches.</item>
    /// <item>Encode the response, with timing headers on request; stamp <see cref="RequestTimestamps.ResponseSent"/>.</item>
    /// </list>
    /// </remarks>
    private static async Task InferAsync(HttpContext context)
    {
        // Every infer request is told to the observers (telemetry, SLO) exactly once, after its response, whatever its outcome.
        var outcome = new InferOutcome(Stopwatch.GetTimestamp());
        try
        {
            await InferCoreAsync(context, outcome).ConfigureAwait(false);
        }
        catch
        {
            outcome.Error = context.RequestAborted.IsCancellationRequested ? InferenceError.Canceled : InferenceError.RuntimeFailure;
            throw;
        }
        finally
        {
            if (outcome.Model is { } model)
            {
                context.RequestServices.GetService<Telemetry.InferenceObservers>()?
                    .RequestCompleted(model, outcome.Version, "http", outcome.Error, outcome.Timestamps);
            }
        }
    }

    /// <summary>What <see cref="InferAsync"/> tells the observers: set along the way by <see cref="InferCoreAsync"/>.</summary>
    private sealed class InferOutcome(long received)
    {
        /// <summary>The model asked for; null while the route is unread or invalid (such requests are not counted).</summary>
        public string? Model { get; set; }
        public string? Version { get; set; }
        public InferenceError Error { get; set; }
        public RequestTimestamps Timestamps { get; set; } = new() { Received = received };
    }

    private static async Task InferCoreAsync(HttpContext context, InferOutcome outcome)
    {
        var received = outcome.Timestamps.Received;

        // :: Step 1
        if (!TryReadModel(context, out var name, out var version, out var invalid))
        {
            await invalid.ConfigureAwait(false);
            return;
        }

        outcome.Model = name;
        outcome.Version = version;
        var services = context.RequestServices;
        var lifecycle = services.GetRequiredService<ServerLifecycle>();
        if (!lifecycle.TryEnter())
        {
            outcome.Error = InferenceError.Draining;
            await HttpErrors.WriteAsync(context, InferenceError.Draining, "the server is shutting down and accepts no new requests").ConfigureAwait(false);
            return;
        }

        try
        {
            var options = services.GetRequiredService<IOptions<SluiceServerOptions>>().Value;

            // :: Step 2
            long? headerLength = null;
            if (context.Request.Headers.TryGetValue(HttpHeaderNames.InferenceHeaderContentLength, out var headerValue))
            {
                if (!long.TryParse(headerValue.ToString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
                {
                    outcome.Error = InferenceError.InvalidInput;
                    await HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest,
                        $"{HttpHeaderNames.InferenceHeaderContentLength} must be an integer").ConfigureAwait(false);
                    return;
                }

                headerLength = parsed;
            }

            var body = await ReadBodyAsync(context, options.MaxRequestBodyBytes).ConfigureAwait(false);
            if (body is null)
            {
                outcome.Error = context.RequestAborted.IsCancellationRequested ? InferenceError.Canceled
                    : context.Response.StatusCode == StatusCodes.Status413PayloadTooLarge ? InferenceError.PayloadTooLarge : InferenceError.InvalidInput;
                return;
            }

            // :: Step 3
            var decoded = InferRequestDecoder.Decode(name, version, body, headerLength, options.MaxJsonDepth);
            decoded.Request.Timestamps.Received = received;
            outcome.Timestamps = decoded.Request.Timestamps;
            var logger = Logger(context);
            if (logger.IsEnabled(LogLevel.Debug))
            {
                logger.InferDecoded(name, decoded.Request.Inputs.Count, body.Length);
            }

            // :: Step 4
            var inference = services.GetRequiredService<IInferenceService>();
            var result = await inference.InferAsync(decoded.Request, context.RequestAborted).ConfigureAwait(false);
            outcome.Version = result.ModelVersion;

            // :: Step 5
            if (string.Equals(context.Request.Headers[HttpHeaderNames.Timing], "true", StringComparison.OrdinalIgnoreCase))
            {
                WriteTimingHeaders(context.Response, result.Timestamps);
            }

            await InferResponseEncoder.WriteAsync(context.Response, result, decoded, context.RequestAborted).ConfigureAwait(false);
            result.Timestamps.ResponseSent = Stopwatch.GetTimestamp();
        }
        catch (Exception exception) when (exception is OperationCanceledException or InferenceException && context.RequestAborted.IsCancellationRequested)
        {
            outcome.Error = InferenceError.Canceled;
            Logger(context).RequestCanceled(context.Request.Method, context.Request.Path);   // not a failure: the client left
        }
        catch (InferenceException exception)
        {
            outcome.Error = exception.Error;
            Logger(context).RequestRejected(context.Request.Method, context.Request.Path, exception.Error.ToHttpStatus(), exception.Message);
            await HttpErrors.WriteAsync(context, exception).ConfigureAwait(false);
        }
        finally
        {
            lifecycle.Exit();
        }
    }

    private static void WriteTimingHeaders(HttpResponse response, RequestTimestamps timestamps)
    {
        var headers = response.Headers;
        headers[HttpHeaderNames.QueueUs] = Microseconds(timestamps.QueueDuration);
        headers[HttpHeaderNames.ComputeInputUs] = Microseconds(timestamps.ComputeInputDuration);
        headers[HttpHeaderNames.ComputeInferUs] = Microseconds(timestamps.ComputeInferDuration);
        headers[HttpHeaderNames.ComputeOutputUs] = Microseconds(timestamps.ComputeOutputDuration);
        headers[HttpHeaderNames.BatchSize] = timestamps.BatchSize.ToString(CultureInfo.InvariantCulture);
    }

    private static string Microseconds(TimeSpan span) =>
        (span.Ticks / TimeSpan.TicksPerMicrosecond).ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Reads the whole body into one array sized from Content-Length (413 before reading when it is over the limit), or for
    /// chunked bodies into a buffer that stops at the limit. Null when an error response was written.
    /// </summary>
    private static async Task<byte[]?> ReadBodyAsync(HttpContext context, long maxBytes)
    {
        var request = context.Request;
        if (request.ContentLength is { } length && length > maxBytes)
        {
            await WriteTooLargeAsync(context, maxBytes).ConfigureAwait(false);
            return null;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = maxBytes;
        }

        try
        {
            if (request.ContentLength is { } known)
            {
                var buffer = new byte[known];
                await request.Body.ReadExactlyAsync(buffer, context.RequestAborted).ConfigureAwait(false);
                return buffer;
            }

            using var collected = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
            {
                if (collected.Length + read > maxBytes)
                {
                    await WriteTooLargeAsync(context, maxBytes).ConfigureAwait(false);
                    return null;
                }

                collected.Write(chunk, 0, read);
            }

            return collected.ToArray();
        }
        catch (BadHttpRequestException exception)
        {
            await HttpErrors.WriteAsync(context, exception.StatusCode,
                exception.StatusCode == StatusCodes.Status413PayloadTooLarge
                    ? $"the request body is larger than the limit of {maxBytes} bytes"
                    : "the request body could not be read").ConfigureAwait(false);
            return null;
        }
        catch (EndOfStreamException)
        {
            await HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, "the request body is shorter than its Content-Length").ConfigureAwait(false);
            return null;
        }
    }

    private static Task WriteTooLargeAsync(HttpContext context, long maxBytes) =>
        HttpErrors.WriteAsync(context, InferenceError.PayloadTooLarge, $"the request body is larger than the limit of {maxBytes} bytes");

    private static async Task<byte[]?> ReadSmallBodyAsync(HttpContext context, long maxBytes)
    {
        if (context.Request.ContentLength == 0)
        {
            return [];
        }

        return await ReadBodyAsync(context, maxBytes).ConfigureAwait(false);
    }

    private static bool TryReadModel(HttpContext context, out string name, out string? version, out Task errorWritten)
    {
        if (ModelRoute.TryRead(context, out name, out version, out var error))
        {
            errorWritten = Task.CompletedTask;
            return true;
        }

        errorWritten = HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, error);
        return false;
    }

    /// <summary>Runs an endpoint body, turning <see cref="InferenceException"/> into its error response.</summary>
    private static async Task RunAsync(HttpContext context, Func<Task> action)
    {
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (InferenceException exception)
        {
            await HttpErrors.WriteAsync(context, exception).ConfigureAwait(false);
        }
    }

    private static async Task WriteJsonAsync<T>(HttpContext context, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, typeInfo);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
    }

    private static Task WriteEmptyAsync(HttpContext context, int statusCode)
    {
        context.Response.StatusCode = statusCode;
        context.Response.ContentLength = 0;
        return Task.CompletedTask;
    }

    private static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Sluice.Server.Http");
}
