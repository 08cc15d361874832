using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sluice.Server.Tests.TestSupport;

/// <summary>Builds and reads KServe v2 HTTP messages, JSON and binary, independently of the server's codec.</summary>
internal static class KServeHttp
{
    public static HttpContent Json(string json) => new StringContent(json, Encoding.UTF8, "application/json");

    /// <summary>A binary-extension body: the JSON header, then each input's bytes, with Inference-Header-Content-Length.</summary>
    public static HttpContent Binary(string headerJson, params byte[][] parts)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        var body = header.Concat(parts.SelectMany(static p => p)).ToArray();
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add("Inference-Header-Content-Length", header.Length.ToString());
        return content;
    }

    /// <summary>A parsed infer response: the JSON header and each binary output's bytes by name.</summary>
    public sealed record InferResult(JsonObject Header, IReadOnlyDictionary<string, byte[]> Binary)
    {
        public JsonObject Output(string name) =>
            Header["outputs"]!.AsArray().Select(static o => o!.AsObject()).Single(o => (string)o["name"]! == name);

        public float[] Floats(string name) =>
            Binary.TryGetValue(name, out var bytes)
                ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray()
                : Output(name)["data"]!.AsArray().Select(static v => (float)v!).ToArray();
    }

    public static async Task<InferResult> ReadInferAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsByteArrayAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new Xunit.Sdk.XunitException($"{(int)response.StatusCode}: {Encoding.UTF8.GetString(body)}");
        }

        var headerLength = response.Headers.TryGetValues("Inference-Header-Content-Length", out var values)
            ? int.Parse(values.Single())
            : body.Length;
        var header = JsonNode.Parse(body.AsSpan(0, headerLength))!.AsObject();
        var binary = new Dictionary<string, byte[]>();
        var offset = headerLength;
        foreach (var output in header["outputs"]!.AsArray())
        {
            if (output!["parameters"]?["binary_data_size"] is { } size)
            {
                var length = (int)size;
                binary[(string)output["name"]!] = body.AsSpan(offset, length).ToArray();
                offset += length;
            }
        }

        Xunit.Assert.Equal(body.Length, offset);
        return new InferResult(header, binary);
    }

    public static async Task<string> ReadErrorAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(text);
        return document.RootElement.GetProperty("error").GetString()!;
    }

    public static byte[] Bytes(params float[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    public static byte[] Bytes(params long[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
