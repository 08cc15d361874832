using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Sluice.Core.Inference;
using Sluice.Server.Errors;

namespace Sluice.Server.OpenAi;

/// <summary>An error in OpenAI's shape: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Type">OpenAI's error type: <c>invalid_request_error</c>, <c>server_error</c>...</param>
/// <param name="Param">The offending field (e.g. <c>max_tokens</c>, <c>messages[1].role</c>), or null.</param>
/// <param name="Code">A machine-readable code (e.g. <c>model_not_found</c>), or null.</param>
/// <param name="RetryAfter">Sent as Retry-After when a retry may succeed.</param>
internal sealed record OpenAiError(int Status, string Type, string Message, string? Param = null, string? Code = null, TimeSpan? RetryAfter = null)
{
    public const string InvalidRequest = "invalid_request_error";
    public const string ServerError = "server_error";

    /// <summary>400 naming the field.</summary>
    public static OpenAiError BadField(string param, string message) =>
        new(StatusCodes.Status400BadRequest, InvalidRequest, message, param);

    /// <summary>404 for a model this server does not serve through this endpoint.</summary>
    public static OpenAiError ModelNotFound(string model) =>
        new(StatusCodes.Status404NotFound, InvalidRequest, $"The model '{model}' does not exist or is not served by this endpoint.", "model", "model_not_found");
}

/// <summary>Maps engine failures to <see cref="OpenAiError"/> and writes errors.</summary>
internal static partial class OpenAiErrors
{
    private static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(1);

    /// <summary>The engine's <see cref="InferenceException"/> as OpenAI reports it; the field named in the message becomes <c>param</c>.</summary>
    public static OpenAiError From(InferenceException exception, string model)
    {
        var error = exception.Error;
        var retryAfter = error.IsRetryable() ? exception.RetryAfter ?? DefaultRetryAfter : (TimeSpan?)null;
        var status = error.ToHttpStatus();
        return error switch
        {
            InferenceError.InvalidInput => new OpenAiError(status, OpenAiError.InvalidRequest, exception.Message, ParamIn(exception.Message)),
            InferenceError.ModelNotFound => OpenAiError.ModelNotFound(model) with { Message = exception.Message },
            InferenceError.PayloadTooLarge => new OpenAiError(status, OpenAiError.InvalidRequest, exception.Message, Code: "request_too_large"),
            InferenceError.QueueFull or InferenceError.QueueTimeout =>
                new OpenAiError(status, OpenAiError.ServerError, exception.Message, Code: "overloaded", RetryAfter: retryAfter),
            InferenceError.Draining => new OpenAiError(status, OpenAiError.ServerError, exception.Message, Code: "server_shutting_down", RetryAfter: retryAfter),
            InferenceError.ModelNotReady => new OpenAiError(status, OpenAiError.ServerError, exception.Message, "model", "model_not_ready", retryAfter),
            InferenceError.Unauthorized => new OpenAiError(status, "authentication_error", exception.Message),
            InferenceError.LoadFailed => new OpenAiError(status, OpenAiError.InvalidRequest, exception.Message),
            _ => new OpenAiError(status, OpenAiError.ServerError, exception.Message),
        };
    }

    /// <summary>The request field an engine message names, e.g. <c>messages[2].role</c> or <c>max_tokens</c>; null when none.</summary>
    internal static string? ParamIn(string message) => FieldPattern().Match(message) is { Success: true } match ? match.Value : null;

    [GeneratedRegex(@"\b(?:messages\[\d+\](?:\.(?:role|content))?|input\[\d+\]|max_completion_tokens|max_tokens|prompt|temperature|top_p|top_k|top_logprobs|logprobs|stop|seed)(?!\w)",
        RegexOptions.CultureInvariant)]
    private static partial Regex FieldPattern();

    /// <summary>Writes <paramref name="error"/> as the response, unless the response has started (then there is nothing left to do).</summary>
    public static async Task WriteAsync(HttpContext context, OpenAiError error)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = error.Status;
        if (error.RetryAfter is { } wait)
        {
            response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        var body = Serialize(error);
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The error object, for a response body or an event of a stream.</summary>
    public static byte[] Serialize(OpenAiError error)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            Write(json, error);
        }

        return buffer.ToArray();
    }

    /// <summary>Writes <c>{"error": {...}}</c>.</summary>
    public static void Write(Utf8JsonWriter json, OpenAiError error)
    {
        json.WriteStartObject();
        json.WriteStartObject("error");
        json.WriteString("message", error.Message);
        json.WriteString("type", error.Type);
        json.WriteString("param", error.Param);
        json.WriteString("code", error.Code);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
