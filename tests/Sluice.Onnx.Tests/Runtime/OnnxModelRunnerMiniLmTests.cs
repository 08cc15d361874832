using Microsoft.ML.OnnxRuntime;
using Sluice.Core.Tensors;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Runtime;

/// <summary>The runner on the real MiniLM model, against ONNX Runtime used directly.</summary>
public sealed class OnnxModelRunnerMiniLmTests(MiniLmFixture miniLm) : IClassFixture<MiniLmFixture>
{
    private const string Output = "last_hidden_state";

    [Fact]
    public void Signature_MiniLm_MatchesDemoRepositoryContract()
    {
        var signature = miniLm.Runner.Signature;

        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], signature.Inputs.Select(i => i.Name));
        Assert.All(signature.Inputs, i => Assert.Equal(DataType.Int64, i.DataType));
        Assert.All(signature.Inputs, i => Assert.Equal([-1L, -1L], i.Dims));
        var output = Assert.Single(signature.Outputs, o => o.Name == Output);   // the file also has a pooled output, '924'
        Assert.Equal(DataType.Fp32, output.DataType);
        Assert.Equal([-1L, -1L, 384L], output.Dims);
    }

    [Fact]
    public async Task RunAsync_Seq128_EqualsBareInferenceSessionRun()
    {
        const int seq = 128;
        var ids = MiniLmFixture.TokenIds(1, seq, seed: 1);

        var result = await miniLm.Runner.RunAsync(Inputs(ids, 1, seq), Output);
        var expected = BareRun(ids, 1, seq);

        var actual = Assert.Single(result.Outputs);
        Assert.Equal(Output, actual.Name);
        Assert.Equal([1L, seq, 384L], actual.Shape);
        Graph.SampleModelsTests.AssertClose(expected, actual.ToArray<float>(), 1e-6f);
    }

    [Fact]
    public async Task RunAsync_BatchOfFour_EqualsFourSingleRowRuns()
    {
        const int rows = 4, seq = 16;
        var ids = MiniLmFixture.TokenIds(rows, seq, seed: 2);

        var batched = (await miniLm.Runner.RunAsync(Inputs(ids, rows, seq), Output)).Outputs[0].ToArray<float>();

        var rowSize = seq * 384;
        for (var r = 0; r < rows; r++)
        {
            var single = await miniLm.Runner.RunAsync(Inputs(ids.AsSpan(r * seq, seq).ToArray(), 1, seq), Output);
            Graph.SampleModelsTests.AssertClose(single.Outputs[0].ToArray<float>(), batched.AsSpan(r * rowSize, rowSize).ToArray(), 1e-4f);
        }
    }

    [Fact]
    public async Task RunAsync_Timestamps_AreOrdered()
    {
        var before = System.Diagnostics.Stopwatch.GetTimestamp();

        var result = await miniLm.Runner.RunAsync(Inputs(MiniLmFixture.TokenIds(1, 8, seed: 3), 1, 8), Output);

        Assert.True(before <= result.ComputeInputEnd);
        Assert.True(result.ComputeInputEnd <= result.ComputeInferEnd);
        Assert.True(result.ComputeInferEnd <= result.ComputeOutputEnd);
        Assert.True(result.ComputeOutputEnd <= System.Diagnostics.Stopwatch.GetTimestamp());
    }

    private static TensorData[] Inputs(long[] ids, int rows, int seq)
    {
        long[] shape = [rows, seq];
        return
        [
            TensorData.From<long>("input_ids", shape, ids),
            TensorData.From<long>("attention_mask", shape, Enumerable.Repeat(1L, ids.Length).ToArray()),
            TensorData.From<long>("token_type_ids", shape, new long[ids.Length]),
        ];
    }

    private float[] BareRun(long[] ids, int rows, int seq)
    {
        long[] shape = [rows, seq];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, ids.Length).ToArray(), shape);
        using var typeValue = OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape);
        using var runOptions = new RunOptions();
        using var outputs = miniLm.BareSession.Run(runOptions, ["input_ids", "attention_mask", "token_type_ids"],
            [idsValue, maskValue, typeValue], [Output]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
