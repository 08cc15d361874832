using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;

namespace Sluice.Server.Http;

/// <summary>
/// Writes a KServe v2 infer response: a JSON header, followed (when any output is binary) by the binary outputs' bytes in
/// output order, with <c>Inference-Header-Content-Length</c> telling where the JSON ends.
/// </summary>
/// <remarks>Binary outputs are copied once, from the tensor straight into the response pipe.</remarks>
internal static class InferResponseEncoder
{
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true };

    /// <summary>Encodes <paramref name="result"/> into the response and flushes it.</summary>
    public static async ValueTask WriteAsync(HttpResponse response, InferenceResponse result, DecodedInferRequest decoded, CancellationToken cancellationToken)
    {
        var outputs = result.Outputs;
        Span<bool> binary = outputs.Count <= 64 ? stackalloc bool[outputs.Count] : new bool[outputs.Count];
        long binaryLength = 0;
        for (var i = 0; i < outputs.Count; i++)
        {
            binary[i] = WantsBinary(decoded, outputs[i].Name);
            if (binary[i])
            {
                binaryLength += outputs[i].Data.Length;
            }
        }

        // :: Step 1: the JSON header, with binary_data_size in place of data for binary outputs.
        var header = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(header, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("model_name"u8, result.ModelName);
            writer.WriteString("model_version"u8, result.ModelVersion);
            if (!string.IsNullOrEmpty(result.Id))
            {
                writer.WriteString("id"u8, result.Id);
            }

            writer.WriteStartArray("outputs"u8);
            for (var i = 0; i < outputs.Count; i++)
            {
                var output = outputs[i];
                writer.WriteStartObject();
                writer.WriteString("name"u8, output.Name);
                writer.WriteString("datatype"u8, output.DataType.ToKServeName());
                writer.WriteStartArray("shape"u8);
                foreach (var dim in output.Shape)
                {
                    writer.WriteNumberValue(dim);
                }

                writer.WriteEndArray();
                if (binary[i])
                {
                    writer.WriteStartObject("parameters"u8);
                    writer.WriteNumber("binary_data_size"u8, output.Data.Length);
                    writer.WriteEndObject();
                }
                else
                {
                    writer.WritePropertyName("data"u8);
                    TensorJsonCodec.WriteData(writer, output);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        // :: Step 2: headers, then the JSON, then each binary output's bytes in order.
        response.StatusCode = StatusCodes.Status200OK;
        if (binaryLength > 0 || HasBinary(binary))
        {
            response.ContentType = "application/octet-stream";
            response.Headers[HttpHeaderNames.InferenceHeaderContentLength] = header.WrittenCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        else
        {
            response.ContentType = "application/json";
        }

        response.ContentLength = header.WrittenCount + binaryLength;
        var body = response.BodyWriter;
        body.Write(header.WrittenSpan);
        for (var i = 0; i < outputs.Count; i++)
        {
            if (binary[i])
            {
                body.Write(outputs[i].Data.Span);
            }
        }

        await body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static bool HasBinary(ReadOnlySpan<bool> binary) => binary.Contains(true);

    /// <summary>A listed output's own <c>binary_data</c> wins; otherwise the request's <c>binary_data_output</c>.</summary>
    private static bool WantsBinary(DecodedInferRequest decoded, string name)
    {
        if (decoded.Request.Outputs is { Count: > 0 } requested)
        {
            foreach (var output in requested)
            {
                if (output.Name == name)
                {
                    return output.Binary;
                }
            }
        }

        return decoded.BinaryDataOutput;
    }
}
