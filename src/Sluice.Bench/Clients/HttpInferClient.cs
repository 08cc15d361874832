using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Sluice.Core.Tensors;
using Sluice.Bench.Workload;

namespace Sluice.Bench.Clients;

/// <summary>
/// KServe v2 HTTP inference, JSON or binary tensors. The request body is encoded once and sent unchanged every time
/// (as perf_analyzer does), so the generator spends its time sending, not encoding.
/// </summary>
public sealed class HttpInferClient : IInferClient
{
    private const string TimingHeader = "Sluice-Timing";
    private readonly HttpClient _client;
    private readonly bool _ownsClient;
    private readonly Uri _inferUri;
    private readonly byte[] _body;
    private readonly int? _jsonHeaderLength;

    /// <summary>Creates the client for <paramref name="model"/> at <paramref name="baseAddress"/>.</summary>
    /// <param name="client">The HTTP client to send with; null to create one sized for many connections.</param>
    public HttpInferClient(Uri baseAddress, string model, string? version, Workload.Workload workload, IReadOnlyList<string> outputs, bool binary, HttpClient? client = null)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        ArgumentNullException.ThrowIfNull(workload);
        _ownsClient = client is null;
        _client = client ?? CreateHttpClient();
        _inferUri = new Uri(baseAddress, ModelPath(model, version) + "/infer");
        if (binary)
        {
            (_body, var headerLength) = EncodeBinary(workload, outputs);
            _jsonHeaderLength = headerLength;
        }
        else
        {
            _body = EncodeJson(workload, outputs);
        }

        Protocol = binary ? "http-binary" : "http";
    }

    /// <inheritdoc />
    public string Protocol { get; }

    /// <summary>The request body sent each time (for tests and byte counts).</summary>
    public ReadOnlyMemory<byte> Body => _body;

    /// <summary>An HTTP client with unlimited connections per server and no client-side timeout (the window decides).</summary>
    public static HttpClient CreateHttpClient() => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = int.MaxValue,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        AutomaticDecompression = DecompressionMethods.None,
        UseProxy = false,
    })
    {
        Timeout = TimeSpan.FromMinutes(5),
    };

    /// <summary>The v2 path of a model (and version).</summary>
    public static string ModelPath(string model, string? version) =>
        "v2/models/" + Uri.EscapeDataString(model) + (string.IsNullOrEmpty(version) ? "" : "/versions/" + Uri.EscapeDataString(version));

    /// <inheritdoc />
    public async ValueTask<InferOutcome> InferAsync(CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _inferUri);
        var content = new ByteArrayContent(_body);
        if (_jsonHeaderLength is { } headerLength)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.Add("Inference-Header-Content-Length", headerLength.ToString(CultureInfo.InvariantCulture));
        }
        else
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        request.Content = content;
        request.Headers.Add(TimingHeader, "true");
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            // Read the whole body: the response is only complete when its last byte arrived.
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                try
                {
                    while (await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false) > 0)
                    {
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }

            var status = (int)response.StatusCode;
            return response.IsSuccessStatusCode
                ? new InferOutcome(true, status.ToString(CultureInfo.InvariantCulture), ReadTiming(response))
                : InferOutcome.Failed(status.ToString(CultureInfo.InvariantCulture));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return InferOutcome.Failed("canceled");
        }
        catch (TaskCanceledException)
        {
            return InferOutcome.Failed("timeout");
        }
        catch (HttpRequestException)
        {
            return InferOutcome.Failed("connection error");
        }
        catch (IOException)
        {
            return InferOutcome.Failed("connection error");
        }
    }

    private static ServerTiming? ReadTiming(HttpResponseMessage response)
    {
        var headers = response.Headers;
        return Header(headers, "Sluice-Queue-Us") is { } queue && Header(headers, "Sluice-Compute-Input-Us") is { } input &&
               Header(headers, "Sluice-Compute-Infer-Us") is { } infer && Header(headers, "Sluice-Compute-Output-Us") is { } output
            ? new ServerTiming(queue, input, infer, output)
            : null;
    }

    private static long? Header(HttpResponseHeaders headers, string name) =>
        headers.TryGetValues(name, out var values) && long.TryParse(values.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;

    /// <summary>The JSON request body: every input's data as a flat array, and the outputs asked for (all when none are named).</summary>
    internal static byte[] EncodeJson(Workload.Workload workload, IReadOnlyList<string>? outputs = null)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("inputs");
            foreach (var tensor in workload.Inputs)
            {
                WriteTensorHeader(writer, tensor);
                writer.WriteStartArray("data");
                WriteValues(writer, tensor);
                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            if (outputs is { Count: > 0 })
            {
                writer.WriteStartArray("outputs");
                foreach (var output in outputs)
                {
                    writer.WriteStartObject();
                    writer.WriteString("name", output);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The binary-extension body: a JSON header with each input's <c>binary_data_size</c>, then the raw tensors.</summary>
    internal static (byte[] Body, int HeaderLength) EncodeBinary(Workload.Workload workload, IReadOnlyList<string> outputs)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("inputs");
            foreach (var tensor in workload.Inputs)
            {
                WriteTensorHeader(writer, tensor);
                writer.WriteStartObject("parameters");
                writer.WriteNumber("binary_data_size", tensor.Data.Length);
                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            if (outputs.Count > 0)
            {
                writer.WriteStartArray("outputs");
                foreach (var output in outputs)
                {
                    writer.WriteStartObject();
                    writer.WriteString("name", output);
                    writer.WriteStartObject("parameters");
                    writer.WriteBoolean("binary_data", true);
                    writer.WriteEndObject();
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            writer.WriteStartObject("parameters");
            writer.WriteBoolean("binary_data_output", true);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        var header = buffer.WrittenSpan;
        var body = new byte[header.Length + workload.InputBytes];
        header.CopyTo(body);
        int offset = header.Length;
        foreach (var tensor in workload.Inputs)
        {
            tensor.Data.Span.CopyTo(body.AsSpan(offset));
            offset += tensor.Data.Length;
        }

        return (body, header.Length);
    }

    private static void WriteTensorHeader(Utf8JsonWriter writer, TensorData tensor)
    {
        writer.WriteStartObject();
        writer.WriteString("name", tensor.Name);
        writer.WriteString("datatype", tensor.DataType.ToKServeName());
        writer.WriteStartArray("shape");
        foreach (var dim in tensor.Shape)
        {
            writer.WriteNumberValue(dim);
        }

        writer.WriteEndArray();
    }

    private static void WriteValues(Utf8JsonWriter writer, TensorData tensor)
    {
        switch (tensor.DataType)
        {
            case DataType.Int64: foreach (var v in tensor.ToArray<long>()) { writer.WriteNumberValue(v); } break;
            case DataType.Int32: foreach (var v in tensor.ToArray<int>()) { writer.WriteNumberValue(v); } break;
            case DataType.Int16: foreach (var v in tensor.ToArray<short>()) { writer.WriteNumberValue(v); } break;
            case DataType.Int8: foreach (var v in tensor.ToArray<sbyte>()) { writer.WriteNumberValue(v); } break;
            case DataType.UInt64: foreach (var v in tensor.ToArray<ulong>()) { writer.WriteNumberValue(v); } break;
            case DataType.UInt32: foreach (var v in tensor.ToArray<uint>()) { writer.WriteNumberValue(v); } break;
            case DataType.UInt16: foreach (var v in tensor.ToArray<ushort>()) { writer.WriteNumberValue(v); } break;
            case DataType.UInt8: foreach (var v in tensor.Data.Span) { writer.WriteNumberValue(v); } break;
            case DataType.Bool: foreach (var v in tensor.Data.Span) { writer.WriteBooleanValue(v != 0); } break;
            case DataType.Fp32: foreach (var v in tensor.ToArray<float>()) { writer.WriteNumberValue(v); } break;
            case DataType.Fp64: foreach (var v in tensor.ToArray<double>()) { writer.WriteNumberValue(v); } break;
            case DataType.Fp16: foreach (var v in tensor.ToArray<Half>()) { writer.WriteNumberValue((float)v); } break;
            case DataType.Bytes:
                var span = tensor.Data.Span;
                while (span.Length >= 4)
                {
                    var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(span);
                    writer.WriteStringValue(System.Text.Encoding.UTF8.GetString(span.Slice(4, length)));
                    span = span[(4 + length)..];
                }

                break;
            default:
                throw new ArgumentException($"input '{tensor.Name}': {tensor.DataType} cannot be written as JSON");
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }
}
