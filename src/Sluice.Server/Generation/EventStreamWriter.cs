using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Sluice.Server.Generation;

/// <summary>
/// Writes a Server-Sent Events response: one <c>data: {json}\n\n</c> event at a time, each flushed at once so a token reaches
/// the client when it is generated. One JSON writer and buffer serve every event of the response.
/// </summary>
internal sealed class EventStreamWriter : IDisposable
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    private readonly HttpResponse _response;
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly Utf8JsonWriter _json;

    private EventStreamWriter(HttpResponse response)
    {
        _response = response;
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });
    }

    /// <summary>Sends the 200 status line and the event-stream headers at once, before the first event.</summary>
    public static async Task<EventStreamWriter> StartAsync(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";   // proxies such as nginx would otherwise hold the stream back
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(context.RequestAborted).ConfigureAwait(false);
        return new EventStreamWriter(response);
    }

    /// <summary>Starts an event; write one JSON value to the returned writer, then call <see cref="SendAsync"/>.</summary>
    public Utf8JsonWriter Begin()
    {
        _buffer.ResetWrittenCount();
        _buffer.Write(DataPrefix);
        _json.Reset(_buffer);
        return _json;
    }

    /// <summary>Ends the event begun with <see cref="Begin"/>, writes and flushes it.</summary>
    public async ValueTask SendAsync(CancellationToken cancellationToken)
    {
        _json.Flush();
        _buffer.Write(EventEnd);
        await _response.Body.WriteAsync(_buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        await _response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes OpenAI's terminating <c>data: [DONE]</c> event.</summary>
    public async ValueTask SendDoneAsync(CancellationToken cancellationToken)
    {
        await _response.Body.WriteAsync(Done, cancellationToken).ConfigureAwait(false);
        await _response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _json.Dispose();
}
