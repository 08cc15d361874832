using System.Text.Json;
using Sluice.Bench.Clients;
using Sluice.Bench.Workload;
using Sluice.Core.Tensors;

namespace Sluice.Bench.Tests.Workload;

/// <summary>The HTTP request bodies name the outputs asked for, so a model's large outputs are not sent back when not wanted.</summary>
public sealed class RequestBodyTests
{
    private static readonly Bench.Workload.Workload Sample = new([TensorData.From<float>("INPUT0", [1, 4], [1f, 2f, 3f, 4f])], 1);

    [Fact]
    public void EncodeJson_NamedOutputs_ListsThemAfterTheInputs()
    {
        using var body = JsonDocument.Parse(HttpInferClient.EncodeJson(Sample, ["pooler_output"]));

        var output = Assert.Single(body.RootElement.GetProperty("outputs").EnumerateArray());
        Assert.Equal("pooler_output", output.GetProperty("name").GetString());
        Assert.Equal([1f, 2f, 3f, 4f], body.RootElement.GetProperty("inputs")[0].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()));
    }

    [Fact]
    public void EncodeJson_NoOutputsNamed_LeavesTheChoiceToTheServer()
    {
        using var body = JsonDocument.Parse(HttpInferClient.EncodeJson(Sample));

        Assert.False(body.RootElement.TryGetProperty("outputs", out _));
    }

    [Fact]
    public void EncodeBinary_NamedOutputs_AskForThemAsBinary()
    {
        var (bytes, headerLength) = HttpInferClient.EncodeBinary(Sample, ["OUTPUT0"]);
        using var header = JsonDocument.Parse(bytes.AsMemory(0, headerLength));

        var output = Assert.Single(header.RootElement.GetProperty("outputs").EnumerateArray());
        Assert.Equal("OUTPUT0", output.GetProperty("name").GetString());
        Assert.True(output.GetProperty("parameters").GetProperty("binary_data").GetBoolean());
        Assert.Equal(headerLength + 16, bytes.Length);
    }
}
