using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Runtime;

/// <summary><see cref="IModelRunner.RunIntoAsync"/>: outputs written into caller buffers, on the plain and the IOBinding paths.</summary>
public sealed class RunIntoTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Outputs_land_in_the_callers_buffers_in_the_requested_order(bool ioBinding)
    {
        using var runner = Runners.Create(SampleModels.WriteAddSub(_dir.File("m.onnx")), ioBinding
            ? new Sluice.Core.Configuration.ExecutionConfig { ProviderOptions = new Dictionary<string, string> { ["sluice_io_binding"] = "1" } }
            : null);
        var a = Enumerable.Range(0, 16).Select(i => (float)i).ToArray();
        var b = Enumerable.Range(0, 16).Select(i => 2f * i + 1).ToArray();
        var sub = new byte[64];
        var add = new byte[64];
        var outputs = new[]
        {
            new TensorData("OUTPUT1", DataType.Fp32, [1, 16], sub),
            new TensorData("OUTPUT0", DataType.Fp32, [1, 16], add),
        };

        for (var round = 0; round < 2; round++)   // the same buffers serve again
        {
            var result = await ((IModelRunner)runner).RunIntoAsync(
                [TensorData.From<float>("INPUT0", [1, 16], a), TensorData.From<float>("INPUT1", [1, 16], b)], outputs, default);
            Assert.Same(outputs, result.Outputs);
            Assert.Equal(a.Zip(b, (x, y) => x - y).ToArray(), outputs[0].ToArray<float>());
            Assert.Equal(a.Zip(b, (x, y) => x + y).ToArray(), outputs[1].ToArray<float>());
            a = a.Select(v => v * 3f).ToArray();
        }
    }

    [Fact]
    public async Task A_buffer_of_the_wrong_shape_is_refused_naming_the_output()
    {
        using var runner = Runners.Create(SampleModels.WriteAddOne(_dir.File("m.onnx")));
        var wrong = new TensorData("OUTPUT0", DataType.Fp32, [2, 4], new byte[16]);
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
            await ((IModelRunner)runner).RunIntoAsync([TensorData.From<float>("INPUT0", [2, 4], new float[8])], [wrong], default));
        Assert.Contains("OUTPUT0", error.Message, StringComparison.Ordinal);
    }
}
