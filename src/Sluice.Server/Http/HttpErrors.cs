using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Sluice.Core.Inference;
using Sluice.Server.Errors;

namespace Sluice.Server.Http;

/// <summary>Writes the one error body every failure gets: <c>{"error": "..."}</c>, with Retry-After where a retry may succeed.</summary>
internal static class HttpErrors
{
    /// <summary>Seconds a client is told to wait when the error carries no hint of its own.</summary>
    private static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(1);

    public static Task WriteAsync(HttpContext context, InferenceException exception) =>
        WriteAsync(context, exception.Error.ToHttpStatus(), exception.Message,
            exception.Error.IsRetryable() ? exception.RetryAfter ?? DefaultRetryAfter : null);

    public static Task WriteAsync(HttpContext context, InferenceError error, string message) =>
        WriteAsync(context, error.ToHttpStatus(), message, error.IsRetryable() ? DefaultRetryAfter : null);

    public static async Task WriteAsync(HttpContext context, int statusCode, string message, TimeSpan? retryAfter = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;   // the status line is gone; the connection is the only thing left to close
        }

        response.StatusCode = statusCode;   // headers already set (WWW-Authenticate) are kept
        if (retryAfter is { } wait)
        {
            response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        var body = JsonSerializer.SerializeToUtf8Bytes(new ErrorBody(message), KServeJsonContext.Default.ErrorBody);
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }
}
