using System.Net;
using System.Text.Json;
using Sluice.Core.Tensors;
using Sluice.Bench.Measurement;
using Sluice.Bench.Workload;

namespace Sluice.Bench.Clients;

/// <summary>Metadata and statistics over KServe v2 HTTP.</summary>
public sealed class HttpModelControl(HttpClient client, Uri baseAddress) : IModelControl
{
    /// <inheritdoc />
    public async Task<ModelDescription> GetMetadataAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var uri = new Uri(baseAddress, HttpInferClient.ModelPath(model, version));
        string json;
        try
        {
            using var response = await client.GetAsync(uri, cancellationToken).ConfigureAwait(false);
            json = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new BenchException($"GET {uri.AbsolutePath} answered {(int)response.StatusCode}: {Truncate(json)}");
            }
        }
        catch (HttpRequestException exception)
        {
            throw new BenchException($"cannot reach {baseAddress}: {exception.Message}");
        }

        return ParseMetadata(json, model);
    }

    /// <inheritdoc />
    public async Task<ServerStatistics?> GetStatisticsAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var uri = new Uri(baseAddress, HttpInferClient.ModelPath(model, version) + "/stats");
        using var response = await client.GetAsync(uri, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return ServerStatistics.ParseJson(json, model, version);
    }

    /// <summary>Parses the v2 model metadata JSON.</summary>
    public static ModelDescription ParseMetadata(string json, string model)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var versions = root.TryGetProperty("versions", out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Select(e => e.GetString() ?? "").ToArray()
            : [];
        return new ModelDescription(model, versions, Tensors(root, "inputs", model), Tensors(root, "outputs", model).Select(t => t.Name).ToArray());
    }

    private static InputSpec[] Tensors(JsonElement root, string field, string model)
    {
        if (!root.TryGetProperty(field, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        return array.EnumerateArray().Select(t =>
        {
            var name = t.GetProperty("name").GetString() ?? "";
            var datatype = t.GetProperty("datatype").GetString();
            if (!DataTypes.TryParse(datatype, out var type))
            {
                throw new BenchException($"model '{model}': {field} '{name}' has datatype '{datatype}', which is not a KServe v2 datatype");
            }

            return new InputSpec(name, type, t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray());
        }).ToArray();
    }

    private static string Truncate(string text) => text.Length <= 200 ? text : text[..200] + "…";
}
