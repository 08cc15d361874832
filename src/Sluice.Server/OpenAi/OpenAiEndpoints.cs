using System.Buffers;
using System.Security.Cryptography;
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

namespace Sluice.Server.OpenAi;

/// <summary>
/// The OpenAI-compatible API on the HTTP port: <c>/v1/models</c>, <c>/v1/completions</c>, <c>/v1/chat/completions</c> (both
/// streamed as Server-Sent Events on request) and <c>/v1/embeddings</c>. Requests are read and every field checked before the
/// engine is touched; errors come in OpenAI's shape with the offending field as <c>param</c>.
/// </summary>
public static class OpenAiEndpoints
{
    /// <summary>The protocol name the engine's metrics and logs see for these requests.</summary>
    public const string Protocol = "openai";

    /// <summary>Maps the endpoints; like the KServe ones they answer only on the HTTP listener.</summary>
    public static IEndpointRouteBuilder MapOpenAi(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var started = DateTimeOffset.UtcNow.ToUnixTimeSeconds();   // "created" of models that do not say when they loaded
        endpoints.MapGet("/v1/models", context => ListModelsAsync(context, started));
        endpoints.MapGet("/v1/models/{model}", context => GetModelAsync(context, started));
        endpoints.MapPost("/v1/completions", static context => GenerateAsync(context, chat: false));
        endpoints.MapPost("/v1/chat/completions", static context => GenerateAsync(context, chat: true));
        endpoints.MapPost("/v1/embeddings", EmbeddingsAsync);
        endpoints.Map("/v1/{**path}", static context => OpenAiErrors.WriteAsync(context, new OpenAiError(
            StatusCodes.Status404NotFound, OpenAiError.InvalidRequest, $"Sluice has no OpenAI endpoint {context.Request.Method} {context.Request.Path}.")));
        return endpoints;
    }

    // ───────────────────────────── models ─────────────────────────────

    private static IEnumerable<ModelEntry> Models(HttpContext context, long started)
    {
        var generation = context.RequestServices.GetService<IGenerationService>();
        var embeddings = context.RequestServices.GetService<IEmbeddingService>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var model in generation?.Models ?? [])
        {
            if (seen.Add(model.Name))
            {
                yield return new ModelEntry(model.Name, model.CreatedUnixSeconds, model.ContextLength);
            }
        }

        foreach (var name in embeddings?.Models ?? [])
        {
            if (seen.Add(name))
            {
                yield return new ModelEntry(name, started, null);
            }
        }
    }

    private static Task ListModelsAsync(HttpContext context, long started) =>
        WriteJsonAsync(context, json => OpenAiResponses.WriteModelList(json, Models(context, started).OrderBy(static m => m.Id, StringComparer.Ordinal)));

    private static Task GetModelAsync(HttpContext context, long started)
    {
        var name = context.Request.RouteValues["model"] as string ?? "";
        var model = Models(context, started).FirstOrDefault(m => m.Id == name);
        return model is null
            ? OpenAiErrors.WriteAsync(context, OpenAiError.ModelNotFound(name))
            : WriteJsonAsync(context, json => OpenAiResponses.WriteModel(json, model));
    }

    // ───────────────────────────── completions and chat ─────────────────────────────

    /// <summary>
    /// Serves <c>/v1/completions</c> or <c>/v1/chat/completions</c>.
    /// </summary>
    /// <remarks>
    /// <list type="number">
    /// <item>Admit unless draining (503 with Retry-After); read the body under the size limit (413) as a JSON object (400).</item>
    /// <item>Read and range-check every field (400 naming it), then find the model (404).</item>
    /// <item>Tokenize (chat: through the model's template), check prompt + max_tokens against the context (400 max_tokens).</item>
    /// <item>Admit n sequences (503 QueueFull/Draining with Retry-After), then answer whole or as an event stream.</item>
    /// <item>However it ends, the sequences are disposed: a client that disconnects frees its slots at the next step.</item>
    /// </list>
    /// </remarks>
    private static async Task GenerateAsync(HttpContext context, bool chat)
    {
        var services = context.RequestServices;
        var lifecycle = services.GetRequiredService<ServerLifecycle>();
        if (!lifecycle.TryEnter())
        {
            await OpenAiErrors.WriteAsync(context, OpenAiErrors.From(
                new InferenceException(InferenceError.Draining, "The server is shutting down and accepts no new requests."), "")).ConfigureAwait(false);
            return;
        }

        GenerationRun? run = null;
        var model = "";
        try
        {
            var body = await ReadBodyAsync(context).ConfigureAwait(false);
            if (body is null)
            {
                return;
            }

            GenerateCall call;
            using (body)
            {
                call = chat ? OpenAiRequests.ReadChat(body.RootElement) : OpenAiRequests.ReadCompletion(body.RootElement);
            }

            model = call.Model;
            var generation = services.GetService<IGenerationService>();
            if (generation is null || !generation.TryGetModel(call.Model, out var info))
            {
                await OpenAiErrors.WriteAsync(context, OpenAiError.ModelNotFound(call.Model)).ConfigureAwait(false);
                return;
            }

            var (promptTokens, sampling) = OpenAiRequests.Resolve(call, info, generation);
            run = await GenerationRun.StartAsync(generation, info.Name, promptTokens, sampling, call.N, Protocol, context.RequestAborted).ConfigureAwait(false);
            var header = new ResponseHeader((chat ? "chatcmpl-" : "cmpl-") + NewId(), DateTimeOffset.UtcNow.ToUnixTimeSeconds(), info.Name, chat);
            if (call.Stream)
            {
                await StreamAsync(context, call, header, run).ConfigureAwait(false);
            }
            else
            {
                await RespondAsync(context, call, header, run).ConfigureAwait(false);
            }
        }
        catch (RequestFieldException exception)
        {
            await RejectAsync(context, OpenAiError.BadField(exception.Param, exception.Message)).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is OperationCanceledException or InferenceException or IOException
                                          && context.RequestAborted.IsCancellationRequested)
        {
            Logger(context).RequestCanceled(context.Request.Method, context.Request.Path);   // not a failure: the client left
        }
        catch (InferenceException exception)
        {
            await RejectAsync(context, OpenAiErrors.From(exception, model)).ConfigureAwait(false);
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

    /// <summary>Collects every choice to its end and answers with one JSON object.</summary>
    private static async Task RespondAsync(HttpContext context, GenerateCall call, ResponseHeader header, GenerationRun run)
    {
        var texts = Enumerable.Range(0, run.Count).Select(static _ => new StringBuilder()).ToArray();
        var logprobs = Enumerable.Range(0, run.Count).Select(_ => call.Logprobs is null ? null : new List<TokenLogprob>()).ToArray();
        var finishes = new FinishReason[run.Count];
        var completionTokens = new Counts(run.Count);
        await foreach (var (index, update) in run.ReadAsync(context.RequestAborted).ConfigureAwait(false))
        {
            texts[index].Append(update.Text);
            if (update.Logprobs is not null)
            {
                logprobs[index]?.AddRange(update.Logprobs);
            }

            completionTokens.Add(index, update);
            if (update.Finish is { } finish)
            {
                if (Failure(update, context) is { } failure)
                {
                    await RejectAsync(context, failure).ConfigureAwait(false);
                    return;
                }

                finishes[index] = finish;
            }
        }

        var choices = Enumerable.Range(0, run.Count).Select(i => new ChoiceResult(i, texts[i].ToString(), logprobs[i], finishes[i])).ToList();
        var usage = new Usage(run.PromptTokenCount, completionTokens.Total);
        await WriteJsonAsync(context, json => OpenAiResponses.WriteCompletion(json, header, choices, usage)).ConfigureAwait(false);
    }

    /// <summary>
    /// Streams each update as a chunk (chat: a first chunk per choice with the assistant role), a final chunk per choice with
    /// its finish_reason, the usage chunk when asked for, then <c>data: [DONE]</c>. A failure after the stream began is sent
    /// as an error event (the status line is gone).
    /// </summary>
    private static async Task StreamAsync(HttpContext context, GenerateCall call, ResponseHeader header, GenerationRun run)
    {
        var aborted = context.RequestAborted;
        using var events = await EventStreamWriter.StartAsync(context).ConfigureAwait(false);
        if (header.Chat)
        {
            for (var i = 0; i < run.Count; i++)
            {
                OpenAiResponses.WriteChunk(events.Begin(), header, i, "assistant", "", null, 0, null, call.IncludeUsage);
                await events.SendAsync(aborted).ConfigureAwait(false);
            }
        }

        var offsets = new int[run.Count];
        var completionTokens = new Counts(run.Count);
        try
        {
            await foreach (var (index, update) in run.ReadAsync(aborted).ConfigureAwait(false))
            {
                completionTokens.Add(index, update);
                if (update.Finish is not null && Failure(update, context) is { } failure)
                {
                    OpenAiErrors.Write(events.Begin(), failure);
                    await events.SendAsync(aborted).ConfigureAwait(false);
                    await events.SendDoneAsync(aborted).ConfigureAwait(false);
                    return;
                }

                var logprobs = call.Logprobs is null ? null : update.Logprobs ?? [];
                if (update.Text.Length == 0 && update.Finish is null && (logprobs is null || logprobs.Count == 0))
                {
                    continue;   // tokens whose text is held back (a possible stop sequence, an unfinished character)
                }

                OpenAiResponses.WriteChunk(events.Begin(), header, index, null, update.Text, logprobs, offsets[index], update.Finish, call.IncludeUsage);
                await events.SendAsync(aborted).ConfigureAwait(false);
                offsets[index] += update.Text.Length;
            }
        }
        catch (InferenceException exception) when (!aborted.IsCancellationRequested)
        {
            OpenAiErrors.Write(events.Begin(), OpenAiErrors.From(exception, header.Model));
            await events.SendAsync(aborted).ConfigureAwait(false);
            await events.SendDoneAsync(aborted).ConfigureAwait(false);
            return;
        }

        if (call.IncludeUsage)
        {
            OpenAiResponses.WriteUsageChunk(events.Begin(), header, new Usage(run.PromptTokenCount, completionTokens.Total));
            await events.SendAsync(aborted).ConfigureAwait(false);
        }

        await events.SendDoneAsync(aborted).ConfigureAwait(false);
    }

    /// <summary>The error a final update stands for: a runtime failure (500) or a cancellation the client did not ask for (503).</summary>
    private static OpenAiError? Failure(GenerationUpdate update, HttpContext context) => update.Finish switch
    {
        FinishReason.Error => new OpenAiError(StatusCodes.Status500InternalServerError, OpenAiError.ServerError,
            "Generation failed: " + (update.Error ?? "the runtime failed")),
        FinishReason.Cancelled when context.RequestAborted.IsCancellationRequested => throw new OperationCanceledException(context.RequestAborted),
        FinishReason.Cancelled => new OpenAiError(StatusCodes.Status503ServiceUnavailable, OpenAiError.ServerError,
            "The sequence was cancelled by the server (shutting down or the model unloading).", Code: "server_shutting_down",
            RetryAfter: TimeSpan.FromSeconds(1)),
        _ => null,
    };

    /// <summary>Completion tokens per choice: the final update's usage when it has one, else the tokens seen.</summary>
    private sealed class Counts(int choices)
    {
        private readonly int[] _seen = new int[choices];
        private readonly int?[] _final = new int?[choices];

        public void Add(int index, GenerationUpdate update)
        {
            _seen[index] += update.TokenIds.Count;
            if (update.Usage is { } usage)
            {
                _final[index] = usage.CompletionTokens;
            }
        }

        public int Total => _seen.Select((seen, i) => _final[i] ?? seen).Sum();
    }

    // ───────────────────────────── embeddings ─────────────────────────────

    private static async Task EmbeddingsAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var lifecycle = services.GetRequiredService<ServerLifecycle>();
        if (!lifecycle.TryEnter())
        {
            await OpenAiErrors.WriteAsync(context, OpenAiErrors.From(
                new InferenceException(InferenceError.Draining, "The server is shutting down and accepts no new requests."), "")).ConfigureAwait(false);
            return;
        }

        var model = "";
        try
        {
            var body = await ReadBodyAsync(context).ConfigureAwait(false);
            if (body is null)
            {
                return;
            }

            EmbeddingsCall call;
            using (body)
            {
                call = OpenAiRequests.ReadEmbeddings(body.RootElement);
            }

            model = call.Model;
            var embeddings = services.GetService<IEmbeddingService>();
            if (embeddings is null || !embeddings.Models.Contains(call.Model, StringComparer.Ordinal))
            {
                await OpenAiErrors.WriteAsync(context, OpenAiError.ModelNotFound(call.Model)).ConfigureAwait(false);
                return;
            }

            var result = await embeddings.EmbedAsync(call.Model, call.Inputs, context.RequestAborted).ConfigureAwait(false);
            if (call.Dimensions is { } dimensions && result.Embeddings.Count > 0 && result.Embeddings[0].Length != dimensions)
            {
                throw new RequestFieldException("dimensions",
                    $"model '{call.Model}' embeds into {result.Embeddings[0].Length} dimensions and cannot shorten them; leave dimensions out or send {result.Embeddings[0].Length}");
            }

            await WriteJsonAsync(context, json => OpenAiResponses.WriteEmbeddings(json, call.Model, result.Embeddings, call.Base64, result.PromptTokens)).ConfigureAwait(false);
        }
        catch (RequestFieldException exception)
        {
            await RejectAsync(context, OpenAiError.BadField(exception.Param, exception.Message)).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is OperationCanceledException or InferenceException or IOException
                                          && context.RequestAborted.IsCancellationRequested)
        {
            Logger(context).RequestCanceled(context.Request.Method, context.Request.Path);
        }
        catch (InferenceException exception)
        {
            await RejectAsync(context, OpenAiErrors.From(exception, model)).ConfigureAwait(false);
        }
        finally
        {
            lifecycle.Exit();
        }
    }

    // ───────────────────────────── plumbing ─────────────────────────────

    /// <summary>The body as a JSON object, or null after writing the 400/413 error.</summary>
    private static async Task<JsonDocument?> ReadBodyAsync(HttpContext context)
    {
        var options = context.RequestServices.GetRequiredService<IOptions<SluiceServerOptions>>().Value;
        var (document, failure, message) = await JsonRequestBody.ReadObjectAsync(context, options.MaxRequestBodyBytes, options.MaxJsonDepth).ConfigureAwait(false);
        switch (failure)
        {
            case BodyFailure.None:
                return document;
            case BodyFailure.Aborted:
                return null;
            case BodyFailure.TooLarge:
                await RejectAsync(context, new OpenAiError(StatusCodes.Status413PayloadTooLarge, OpenAiError.InvalidRequest, message, Code: "request_too_large")).ConfigureAwait(false);
                return null;
            default:
                await RejectAsync(context, new OpenAiError(StatusCodes.Status400BadRequest, OpenAiError.InvalidRequest, message)).ConfigureAwait(false);
                return null;
        }
    }

    private static Task RejectAsync(HttpContext context, OpenAiError error)
    {
        Logger(context).RequestRejected(context.Request.Method, context.Request.Path, error.Status, error.Message);
        return OpenAiErrors.WriteAsync(context, error);
    }

    private static async Task WriteJsonAsync(HttpContext context, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            write(json);
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        response.ContentLength = buffer.WrittenCount;
        await response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>24 random hex digits, as OpenAI's ids carry.</summary>
    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    private static ILogger Logger(HttpContext context) =>
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Sluice.Server.OpenAi");
}
