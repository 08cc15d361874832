using Sluice.Core.Generation;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Runtime;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Runtime;

/// <summary>
/// The slot runner's decode hands back the logits of the slots asked for, in the order asked, converted from FP16: each row
/// matches the C# reference forward of that slot's own sequence.
/// </summary>
public sealed class OnnxSlotDecoderRunnerTests : IDisposable
{
    private const float Tolerance = 0.01f;   // FP16 model against the FP32 reference
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Decode_returns_the_listed_slots_logits_in_the_listed_order()
    {
        var config = LlamaModelConfig.Tiny(DataType.Fp16);
        var files = LlamaModelWriter.Write(_dir.File("tiny16/1/model.onnx"), config);
        var spec = new SlotDecoderSpec("tiny16", config.Layers, config.KvHeads, config.ResolvedHeadDim, config.Vocab,
            MaxLength: config.MaxPosition, Slots: 3, Half: true);
        using var runner = new OnnxSlotDecoderRunnerFactory().Create(files.ModelPath, spec, "cpu", 0, new Dictionary<string, string>());
        var reference = new LlamaReference(config);
        int[][] prompts = [[5, 6, 7], [100, 200, 300, 400, 1], [9, 8]];
        var sequences = new LlamaReferenceSequence[prompts.Length];
        var vocab = config.Vocab;
        var last = new float[vocab];
        for (var slot = 0; slot < prompts.Length; slot++)
        {
            runner.Prefill(slot, prompts[slot], 0, last);
            sequences[slot] = reference.StartSequence();
            var expected = sequences[slot].Forward(prompts[slot].Select(t => (long)t).ToArray());
            AssertClose(expected.AsSpan(expected.Length - vocab), last, $"prefill of slot {slot}");
        }

        int[] tokens = [11, 22, 33];
        var logits = new float[2 * vocab];
        runner.Decode(tokens, prompts.Select(p => p.Length).ToArray(), rows: [2, 0], logits);

        AssertClose(sequences[2].Forward([33]), logits.AsSpan(0, vocab), "row 0 = slot 2");
        AssertClose(sequences[0].Forward([11]), logits.AsSpan(vocab, vocab), "row 1 = slot 0");
    }

    [Fact]
    public void Decode_refuses_a_row_outside_the_step()
    {
        var config = LlamaModelConfig.Tiny(DataType.Fp16);
        var files = LlamaModelWriter.Write(_dir.File("tiny16/1/model.onnx"), config);
        var spec = new SlotDecoderSpec("tiny16", config.Layers, config.KvHeads, config.ResolvedHeadDim, config.Vocab,
            MaxLength: config.MaxPosition, Slots: 3, Half: true);
        using var runner = new OnnxSlotDecoderRunnerFactory().Create(files.ModelPath, spec, "cpu", 0, new Dictionary<string, string>());

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => runner.Decode([1, 2], [0, 0], rows: [2], new float[config.Vocab]));
        Assert.Equal("rows", error.ParamName);
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = 0f;
        for (var i = 0; i < expected.Length; i++)
        {
            worst = MathF.Max(worst, MathF.Abs(expected[i] - actual[i]));
        }

        Assert.True(worst <= Tolerance, $"{what}: largest difference {worst}");
    }
}
