using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Sluice.Server.Generation;

/// <summary>Why a request body could not be read as JSON.</summary>
internal enum BodyFailure
{
    /// <summary>Read and parsed.</summary>
    None,
    /// <summary>Larger than the server's body size limit (413).</summary>
    TooLarge,
    /// <summary>Shorter than its Content-Length, or otherwise unreadable (400).</summary>
    Unreadable,
    /// <summary>Not JSON, nested deeper than allowed, or not an object (400).</summary>
    Malformed,
    /// <summary>The client went away while sending it.</summary>
    Aborted,
}

/// <summary>Reads a JSON request body under the server's size and depth limits, without writing any response.</summary>
internal static class JsonRequestBody
{
    /// <summary>
    /// Reads and parses the body; the document is the caller's to dispose. A body over <paramref name="maxBytes"/> fails before
    /// reading when Content-Length says so, else as soon as the limit is passed (Kestrel's limit backs up chunked bodies).
    /// </summary>
    /// <returns>The document, or null with the reason and a message for the client.</returns>
    public static async Task<(JsonDocument? Document, BodyFailure Failure, string Message)> ReadObjectAsync(HttpContext context, long maxBytes, int maxDepth)
    {
        var request = context.Request;
        var tooLarge = $"the request body is larger than the limit of {maxBytes} bytes";
        if (request.ContentLength is { } declared && declared > maxBytes)
        {
            return (null, BodyFailure.TooLarge, tooLarge);
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = maxBytes;
        }

        byte[] body;
        try
        {
            if (request.ContentLength is { } known)
            {
                body = new byte[known];
                await request.Body.ReadExactlyAsync(body, context.RequestAborted).ConfigureAwait(false);
            }
            else
            {
                using var collected = new MemoryStream();
                var chunk = new byte[16 * 1024];
                int read;
                while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
                {
                    if (collected.Length + read > maxBytes)
                    {
                        return (null, BodyFailure.TooLarge, tooLarge);
                    }

                    collected.Write(chunk, 0, read);
                }

                body = collected.ToArray();
            }
        }
        catch (BadHttpRequestException exception)
        {
            return exception.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? (null, BodyFailure.TooLarge, tooLarge)
                : (null, BodyFailure.Unreadable, "the request body could not be read");
        }
        catch (EndOfStreamException)
        {
            return (null, BodyFailure.Unreadable, "the request body is shorter than its Content-Length");
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return (null, BodyFailure.Aborted, "the client went away");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = maxDepth });
        }
        catch (JsonException exception)
        {
            return (null, BodyFailure.Malformed, $"the request body is not valid JSON: {Describe(exception)}");
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            return (null, BodyFailure.Malformed, "the request body must be a JSON object");
        }

        return (document, BodyFailure.None, "");
    }

    /// <summary>The parser's own words without the exception type, and where (line, byte) it stopped.</summary>
    private static string Describe(JsonException exception)
    {
        var message = exception.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut].TrimEnd('.') + $" (line {exception.LineNumber + 1}, byte {exception.BytePositionInLine + 1})" : message;
    }
}
