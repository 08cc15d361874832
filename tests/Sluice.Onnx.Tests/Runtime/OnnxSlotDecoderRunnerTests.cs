using Sluice.Core.Generation;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Runtime;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Runtime;

/// <summary>
/// The slot runner against the C# reference forward of each slot's own sequence: decode hands back the logits of the slots
/// asked for, in the order asked, converted from FP16, skips rows of -1, and gives every slot's greedy token from the
/// model's own argmax; prompts prefilled together (right-padded) decode like prompts prefilled alone, and leave the slots
/// outside their run alone.
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
        using var runner = Load(config, slots: 3);
        var reference = new LlamaReference(config);
        int[][] prompts = [[5, 6, 7], [100, 200, 300, 400, 1], [9, 8]];
        var sequences = new LlamaReferenceSequence[prompts.Length];
        var vocab = config.Vocab;
        var last = new float[vocab];
        for (var slot = 0; slot < prompts.Length; slot++)
        {
            runner.Prefill(slot, prompts[slot], 0, last);
            sequences[slot] = reference.StartSequence();
            var prefilled = sequences[slot].Forward(prompts[slot].Select(t => (long)t).ToArray());
            AssertClose(prefilled.AsSpan(prefilled.Length - vocab), last, $"prefill of slot {slot}");
        }

        int[] tokens = [11, 22, 33];
        var logits = new float[3 * vocab];
        logits.AsSpan().Fill(float.NaN);
        var argmax = new int[3];
        runner.Decode(tokens, prompts.Select(p => p.Length).ToArray(), rows: [2, -1, 0], logits, argmax);

        var expected = tokens.Select((t, slot) => sequences[slot].Forward([t])).ToArray();
        AssertClose(expected[2], logits.AsSpan(0, vocab), "row 0 = slot 2");
        Assert.All(logits.AsSpan(vocab, vocab).ToArray(), static v => Assert.True(float.IsNaN(v), "a row of -1 was written"));
        AssertClose(expected[0], logits.AsSpan(2 * vocab, vocab), "row 2 = slot 0");

        // The model's own argmax: that of the logits it hands back, and the reference's choice for every slot.
        Assert.True(runner.HasArgMax);
        Assert.Equal(LlamaReference.ArgMax(logits.AsSpan(0, vocab)), argmax[2]);
        Assert.Equal(LlamaReference.ArgMax(logits.AsSpan(2 * vocab, vocab)), argmax[0]);
        Assert.Equal(expected.Select(static e => LlamaReference.ArgMax(e)), argmax);
    }

    [Theory]
    [InlineData(DataType.Fp32)]
    [InlineData(DataType.Fp16)]
    public void Prompts_prefilled_together_with_padding_decode_like_their_references_and_leave_other_slots_alone(DataType type)
    {
        var config = LlamaModelConfig.Tiny(type);
        using var runner = Load(config, slots: 4);
        var reference = new LlamaReference(config);
        int[][] prompts = [[5, 6, 7], [100, 200, 300, 400, 1], [9, 8], [42, 17, 3, 250]];
        var sequences = prompts.Select(p =>
        {
            var sequence = reference.StartSequence();
            sequence.Forward(p.Select(t => (long)t).ToArray());
            return sequence;
        }).ToArray();

        // Slot 0 alone first; then slots 1-3 together, padded to the longest (5): rows of 5, 2 and 4 tokens.
        runner.Prefill(0, prompts[0], 0, []);
        int[] padded = [.. prompts[1], .. prompts[2], 77, 77, 77, .. prompts[3], 77];
        runner.PrefillPrompts(1, padded, width: 5, lengths: [5, 2, 4]);

        int[] tokens = [11, 22, 33, 44];
        var logits = new float[4 * config.Vocab];
        var argmax = new int[4];
        runner.Decode(tokens, prompts.Select(p => p.Length).ToArray(), rows: [0, 1, 2, 3], logits, argmax);
        for (var slot = 0; slot < 4; slot++)
        {
            var expected = sequences[slot].Forward([tokens[slot]]);
            AssertClose(expected, logits.AsSpan(slot * config.Vocab, config.Vocab), $"slot {slot}", type == DataType.Fp16 ? Tolerance : 1e-3f);
            Assert.Equal(LlamaReference.ArgMax(expected), argmax[slot]);
        }
    }

    [Fact]
    public void Decode_refuses_a_row_outside_the_step()
    {
        var config = LlamaModelConfig.Tiny(DataType.Fp16);
        using var runner = Load(config, slots: 3);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => runner.Decode([1, 2], [0, 0], rows: [2], new float[config.Vocab], new int[2]));
        Assert.Equal("rows", error.ParamName);
    }

    /// <summary>Writes <paramref name="config"/>'s model and loads it on the CPU with <paramref name="slots"/> slots.</summary>
    private ISlotDecoderRunner Load(LlamaModelConfig config, int slots)
    {
        var files = LlamaModelWriter.Write(_dir.File($"tiny{config.ElementType}/1/model.onnx"), config);
        var spec = new SlotDecoderSpec("tiny", config.Layers, config.KvHeads, config.ResolvedHeadDim, config.Vocab,
            MaxLength: config.MaxPosition, Slots: slots, Half: config.ElementType == DataType.Fp16);
        return new OnnxSlotDecoderRunnerFactory().Create(files.ModelPath, spec, "cpu", 0, new Dictionary<string, string>());
    }

    private static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, float tolerance = Tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = 0f;
        for (var i = 0; i < expected.Length; i++)
        {
            worst = MathF.Max(worst, MathF.Abs(expected[i] - actual[i]));
        }

        Assert.True(worst <= tolerance, $"{what}: largest difference {worst}");
    }
}
