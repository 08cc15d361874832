using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Core.Generation;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Server.Generation;
using Sluice.Server.Hosting;

namespace Sluice.Server.Http;

/// <summary>
/// Triton's generate extension: <c>POST v2/models/{model}[/versions/{version}]/generate</c> answers
/// <c>{"model_name", "model_version", "text_output"}</c> once; <c>generate_stream</c> sends the same object per update as
/// Server-Sent Events, <c>text_output</c> holding the new text. The request is <c>{"id", "text_input", "parameters"}</c> with
/// the sampling parameters max_tokens, temperature, top_p, top_k, seed, stop and ignore_eos (read from the top level when
/// there is no <c>parameters</c> object, as TensorRT-LLM's examples send them). Errors are KServe's <c>{"error": "..."}</c>.
/// </summary>
public static class KServeGenerateEndpoints
{
    /// <summary>The protocol name the engine's metrics and logs see for these requests.</summary>
    public const string Protocol = "kserve";

    /// <summary>Default max_tokens when the request gives none.</summary>
    public const int DefaultMaxTokens = 16;

    /// <summary>Maps generate and generate_stream, with and without a version.</summary>
    public static IEndpointRouteBuilder MapKServeGenerate(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        foreach (var prefix in (string[])["/v2/models/{model}", "/v2/models/{model}/versions/{version}"])
        {
            endpoints.MapPost(prefix + "/generate", static context => GenerateAsync(context, stream: false));
            endpoints.MapPost(prefix + "/generate_stream", static context => GenerateAsync(context, stream: true));
        }

        return endpoints;
    }

    private static async Task GenerateAsync(HttpContext context, bool stream)
    {
        if (!ModelRoute.TryRead(context, out var name, out var version, out var routeError))
        {
            await HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, routeError).ConfigureAwait(false);
            return;
        }

        var services = context.RequestServices;
        var lifecycle = services.GetRequiredService<ServerLifecycle>();
        if (!lifecycle.TryEnter())
        {
            await HttpErrors.WriteAsync(context, InferenceError.Draining, "the server is shutting down and accepts no new requests").ConfigureAwait(false);
            return;
        }

        GenerationRun? run = null;
        try
        {
            var options = services.GetRequiredService<IOptions<SluiceServerOptions>>().Value;
            var (document, failure, message) = await JsonRequestBody.ReadObjectAsync(context, options.MaxRequestBodyBytes, options.MaxJsonDepth).ConfigureAwait(false);
            if (failure != BodyFailure.None)
            {
                if (failure != BodyFailure.Aborted)
                {
                    await HttpErrors.WriteAsync(context, failure == BodyFailure.TooLarge ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest, message)
                        .ConfigureAwait(false);
                }

                return;
            }

            string text;
            string? id;
            SamplingFields sampling;
            using (document)
            {
                var root = document!.RootElement;
                id = JsonFields.String(root, "id", "id");
                text = JsonFields.String(root, "text_input", "text_input") ?? throw new RequestFieldException("text_input", "text_input is required");
                sampling = JsonFields.Get(root, "parameters") switch
                {
                    null => SamplingFields.Read(root, "", "max_tokens"),
                    { ValueKind: JsonValueKind.Object } given => SamplingFields.Read(given, "parameters.", "max_tokens"),
                    _ => throw new RequestFieldException("parameters", "parameters must be an object"),
                };
            }

            var generation = services.GetService<IGenerationService>();
            if (generation is null || !generation.TryGetModel(name, out var model))
            {
                await HttpErrors.WriteAsync(context, InferenceError.ModelNotFound, $"model '{name}' is not a ready text generation model").ConfigureAwait(false);
                return;
            }

            var tokens = generation.Tokenize(model.Name, text);
            if (tokens.Length == 0)
            {
                throw new RequestFieldException("text_input", "text_input is empty: it must hold at least one token");
            }

            var parameters = sampling.ToParameters(model, tokens.Length, DefaultMaxTokens, "text_input", logprobs: null);
            run = await GenerationRun.StartAsync(generation, model.Name, tokens, parameters, 1, Protocol, context.RequestAborted).ConfigureAwait(false);
            var response = new GenerateResponse(id, model.Name, version ?? VersionOf(services, model.Name));
            if (stream)
            {
                await StreamAsync(context, response, run).ConfigureAwait(false);
            }
            else
            {
                await RespondAsync(context, response, run).ConfigureAwait(false);
            }
        }
        catch (RequestFieldException exception)
        {
            await HttpErrors.WriteAsync(context, StatusCodes.Status400BadRequest, exception.Message).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is OperationCanceledException or InferenceException or IOException
                                          && context.RequestAborted.IsCancellationRequested)
        {
            Logger(context).RequestCanceled(context.Request.Method, context.Request.Path);
        }
        catch (InferenceException exception)
        {
            Logger(context).RequestRejected(context.Request.Method, context.Request.Path, Errors.InferenceErrorMapping.ToHttpStatus(exception.Error), exception.Message);
            await HttpErrors.WriteAsync(context, exception).ConfigureAwait(false);
        }
        finally
        {
            if (run is not null)
            {
                await run.DisposeAsync().ConfigureAwait(false);
            }

            lifecycle.Exit();
        }
    }

    private static async Task RespondAsync(HttpContext context, GenerateResponse response, GenerationRun run)
    {
        var text = new StringBuilder();
        await foreach (var (_, update) in run.ReadAsync(context.RequestAborted).ConfigureAwait(false))
        {
            text.Append(update.Text);
            if (Failure(update, context) is { } failure)
            {
                await HttpErrors.WriteAsync(context, failure.Status, failure.Message).ConfigureAwait(false);
                return;
            }
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            Write(json, response, text.ToString());
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = buffer.Length;
        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task StreamAsync(HttpContext context, GenerateResponse response, GenerationRun run)
    {
        var aborted = context.RequestAborted;
        using var events = await EventStreamWriter.StartAsync(context).ConfigureAwait(false);
        try
        {
            await foreach (var (_, update) in run.ReadAsync(aborted).ConfigureAwait(false))
            {
                if (Failure(update, context) is { } failure)
                {
                    WriteError(events.Begin(), failure.Message);
                    await events.SendAsync(aborted).ConfigureAwait(false);
                    return;
                }

                if (update.Text.Length > 0 || update.Finish is not null)
                {
                    Write(events.Begin(), response, update.Text);
                    await events.SendAsync(aborted).ConfigureAwait(false);
                }
            }
        }
        catch (InferenceException exception) when (!aborted.IsCancellationRequested)
        {
            WriteError(events.Begin(), exception.Message);
            await events.SendAsync(aborted).ConfigureAwait(false);
        }
    }

    private static (int Status, string Message)? Failure(GenerationUpdate update, HttpContext context) => update.Finish switch
    {
        FinishReason.Error => (StatusCodes.Status500InternalServerError, "generation failed: " + (update.Error ?? "the runtime failed")),
        FinishReason.Cancelled when context.RequestAborted.IsCancellationRequested => throw new OperationCanceledException(context.RequestAborted),
        FinishReason.Cancelled => (StatusCodes.Status503ServiceUnavailable, "the sequence was cancelled by the server (shutting down or the model unloading)"),
        _ => null,
    };

    private static void Write(Utf8JsonWriter json, GenerateResponse response, string text)
    {
        json.WriteStartObject();
        if (response.Id is not null)
        {
            json.WriteString("id", response.Id);
        }

        json.WriteString("model_name", response.ModelName);
        json.WriteString("model_version", response.ModelVersion);
        json.WriteString("text_output", text);
        json.WriteEndObject();
    }

    private static void WriteError(Utf8JsonWriter json, string message)
    {
        json.WriteStartObject();
        json.WriteString("error", message);
        json.WriteEndObject();
    }

    /// <summary>The model's current version when the repository serves it under that name too, else <c>1</c>.</summary>
    private static string VersionOf(IServiceProvider services, string model)
    {
        try
        {
            return services.GetService<IModelRepositoryService>()?.GetModelMetadata(model, null).Versions.LastOrDefault() ?? "1";
        }
        catch (InferenceException)
        {
            return "1";
        }
    }

    private static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Sluice.Server.Http");

    private sealed record GenerateResponse(string? Id, string ModelName, string ModelVersion);
}
