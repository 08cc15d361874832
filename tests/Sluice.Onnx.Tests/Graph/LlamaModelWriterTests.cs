using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Graph;

/// <summary>
/// The shared-KV-buffer Llama written by <see cref="LlamaModelWriter"/>, run on ONNX Runtime's CPU provider with past and
/// present bound to one buffer per layer, gives the logits of the C# <see cref="LlamaReference"/> in every
/// GroupQueryAttention mode: first prompt, token generation (rows of different lengths in one batch), subsequent prompt.
/// </summary>
public sealed class LlamaModelWriterTests : IDisposable
{
    private const float Tolerance = 1e-3f;

    private static readonly long[] s_prompt = [17, 3, 250, 99, 4, 511, 42];

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void PrefillThenDecode_SharedBuffer_LogitsMatchReference()
    {
        var config = LlamaModelConfig.Tiny();
        var files = LlamaModelWriter.Write(_dir.File("tiny/1/model.onnx"), config);
        var sequence = new LlamaReference(config).StartSequence();
        using var session = new SharedKvSession(files.ModelPath, config, rows: 1);

        var logits = session.Run(0, 1, s_prompt, [s_prompt.Length - 1], s_prompt.Length);

        AssertClose(sequence.Forward(s_prompt), logits, "prefill");
        var token = (long)LlamaReference.ArgMax(logits.AsSpan(logits.Length - config.Vocab));
        for (var step = 0; step < 5; step++)
        {
            var total = s_prompt.Length + step + 1;
            logits = session.Run(0, 1, [token], [total - 1], total);
            AssertClose(sequence.Forward([token]), logits, $"decode step {step}");
            token = LlamaReference.ArgMax(logits);
        }
    }

    [Fact]
    public void BatchDecode_RowsOfDifferentLengths_EachRowMatchesItsOwnReference()
    {
        var config = LlamaModelConfig.Tiny();
        var files = LlamaModelWriter.Write(_dir.File("tiny/1/model.onnx"), config);
        var reference = new LlamaReference(config);
        long[][] prompts = [[5, 6, 7], [100, 200, 300, 400, 500, 1, 2, 3, 4], [9, 8, 7, 6, 5]];
        using var session = new SharedKvSession(files.ModelPath, config, rows: prompts.Length);
        var sequences = new LlamaReferenceSequence[prompts.Length];
        var next = new long[prompts.Length];
        for (var row = 0; row < prompts.Length; row++)
        {
            // Each row prefilled alone, through a batch-1 view of its slice of the shared buffers.
            var logits = session.Run(row, 1, prompts[row], [prompts[row].Length - 1], prompts[row].Length);
            sequences[row] = reference.StartSequence();
            AssertClose(sequences[row].Forward(prompts[row]), logits, $"prefill row {row}");
            next[row] = LlamaReference.ArgMax(logits.AsSpan(logits.Length - config.Vocab));
        }

        for (var step = 0; step < 4; step++)
        {
            var seqlens = sequences.Select(s => s.Length).ToArray();   // after this step, minus one
            var logits = session.Run(0, prompts.Length, next, seqlens, seqlens.Max() + 1);

            // total_sequence_length only sizes the step in token generation: a fixed max_len (what a captured CUDA graph
            // replays) gives the same logits; rerunning rewrites the same keys and values.
            var fixedTotal = session.Run(0, prompts.Length, next, seqlens, config.MaxPosition);
            Assert.Equal(logits, fixedTotal);

            for (var row = 0; row < prompts.Length; row++)
            {
                var rowLogits = logits.AsSpan(row * config.Vocab, config.Vocab).ToArray();
                AssertClose(sequences[row].Forward([next[row]]), rowLogits, $"decode step {step} row {row}");
                next[row] = LlamaReference.ArgMax(rowLogits);
            }
        }
    }

    [Fact]
    public void ChunkedPrefill_SubsequentPrompt_MatchesReference()
    {
        var config = LlamaModelConfig.Tiny();
        var files = LlamaModelWriter.Write(_dir.File("tiny/1/model.onnx"), config);
        long[] prompt = [1, 2, 3, 4, 5, 6, 400, 300, 200, 100];
        var sequence = new LlamaReference(config).StartSequence();
        using var session = new SharedKvSession(files.ModelPath, config, rows: 1);

        var first = session.Run(0, 1, prompt[..6], [5], 6);
        var second = session.Run(0, 1, prompt[6..], [9], 10);

        AssertClose(sequence.Forward(prompt[..6]), first, "chunk 1");
        AssertClose(sequence.Forward(prompt[6..]), second, "chunk 2 (subsequent prompt)");
        var token = (long)LlamaReference.ArgMax(second.AsSpan(second.Length - config.Vocab));
        AssertClose(sequence.Forward([token]), session.Run(0, 1, [token], [10], 11), "decode after chunks");
    }

    [Fact]
    public void PresentKeys_WrittenInPlace_AtEachRowsPositions()
    {
        var config = LlamaModelConfig.Tiny();
        var files = LlamaModelWriter.Write(_dir.File("tiny/1/model.onnx"), config);
        using var session = new SharedKvSession(files.ModelPath, config, rows: 2);

        session.Run(1, 1, [10, 20, 30], [2], 3);

        Assert.All(session.Key(0, 0, 0, 0), v => Assert.Equal(0f, v));            // row 0 untouched
        Assert.Contains(session.Key(0, 1, 0, 2), v => v != 0f);                   // row 1 position 2 written
        Assert.All(session.Key(config.Layers - 1, 1, 1, 3), v => Assert.Equal(0f, v));   // nothing past the sequence
    }

    [Fact]
    public void Float16_WritesLoadsAndRuns_CloseToReference()
    {
        var config = LlamaModelConfig.Tiny(DataType.Fp16);
        var files = LlamaModelWriter.Write(_dir.File("tiny16/1/model.onnx"), config);
        using var session = new SharedKvSession(files.ModelPath, config, rows: 1);

        var input = session.Session.InputMetadata;
        Assert.Equal(typeof(Float16), input[LlamaModelWriter.PastKeyName(0)].ElementType);
        Assert.Equal(typeof(Float16), session.Session.OutputMetadata["logits"].ElementType);
        var sequence = new LlamaReference(config).StartSequence();
        var logits = session.Run(0, 1, s_prompt, [s_prompt.Length - 1], s_prompt.Length);
        AssertClose(sequence.Forward(s_prompt), logits, "fp16 prefill", tolerance: 0.01f);
        var total = s_prompt.Length + 1;
        AssertClose(sequence.Forward([3]), session.Run(0, 1, [3], [total - 1], total), "fp16 decode", tolerance: 0.01f);
    }

    [Fact]
    public void Float16ExternalData_HeadDim64_CloseToReference()
    {
        // The Llama-1B head width, FP16 weights in model.onnx.data: the GpuBench llama-model path in small.
        var config = LlamaModelConfig.Tiny(DataType.Fp16) with { Hidden = 256, HeadDim = 0, Intermediate = 512, Vocab = 2048, MaxPosition = 256 };
        var files = LlamaModelWriter.Write(_dir.File("hd64/1/model.onnx"), config, LlamaWeightStorage.External);
        var sequence = new LlamaReference(config).StartSequence();
        using var session = new SharedKvSession(files.ModelPath, config, rows: 1, maxLen: 64);

        var logits = session.Run(0, 1, s_prompt, [s_prompt.Length - 1], s_prompt.Length);

        Assert.Equal(64, config.ResolvedHeadDim);
        AssertClose(sequence.Forward(s_prompt), logits, "fp16 prefill", tolerance: 0.02f);
        var token = (long)LlamaReference.ArgMax(logits.AsSpan(logits.Length - config.Vocab));
        var total = s_prompt.Length + 1;
        AssertClose(sequence.Forward([token]), session.Run(0, 1, [token], [total - 1], total), "fp16 decode", tolerance: 0.02f);
    }

    [Theory]
    [InlineData(false, LlamaWeightStorage.Inline)]
    [InlineData(true, LlamaWeightStorage.Inline)]
    [InlineData(true, LlamaWeightStorage.External)]
    public void TransposedProjections_SameFunction_OutInWeightsAndFusedMatMul(bool tied, LlamaWeightStorage storage)
    {
        var config = LlamaModelConfig.Tiny() with { TiedEmbeddings = tied, TransposedProjections = true };
        var files = LlamaModelWriter.Write(_dir.File("nt/1/model.onnx"), config, storage);
        var sequence = new LlamaReference(config).StartSequence();
        using var session = new SharedKvSession(files.ModelPath, config, rows: 1);

        var logits = session.Run(0, 1, s_prompt, [s_prompt.Length - 1], s_prompt.Length);
        AssertClose(sequence.Forward(s_prompt), logits, "prefill");
        var token = (long)LlamaReference.ArgMax(logits.AsSpan(logits.Length - config.Vocab));
        var total = s_prompt.Length + 1;
        AssertClose(sequence.Forward([token]), session.Run(0, 1, [token], [total - 1], total), "decode");

        var model = Sluice.Onnx.Graph.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(files.ModelPath));
        var projections = model.Graph.Node.Where(static n => n.OpType is "MatMul" or "FusedMatMul").ToList();
        Assert.Equal(4 * config.Layers + 1, projections.Count);
        Assert.All(projections, static n => Assert.Equal(("FusedMatMul", 1L), (n.OpType, n.Attribute.Single(a => a.Name == "transB").I)));
        Assert.DoesNotContain(model.Graph.Node, static n => n.OpType == "Transpose");
        var qkv = model.Graph.Initializer.Single(static t => t.Name == "model.layers.0.attn.qkv_proj.weight");
        Assert.Equal([(long)config.QkvWidth, config.Hidden], qkv.Dims);
    }

    [Fact]
    public void ExternalData_SameLogitsAsInline()
    {
        var config = LlamaModelConfig.Tiny() with { TiedEmbeddings = true };
        var inline = LlamaModelWriter.Write(_dir.File("inline/1/model.onnx"), config, LlamaWeightStorage.Inline);
        var external = LlamaModelWriter.Write(_dir.File("external/1/model.onnx"), config, LlamaWeightStorage.External);

        Assert.Null(inline.DataPath);
        Assert.Equal(_dir.File("external/1/model.onnx.data"), external.DataPath);
        Assert.True(new FileInfo(external.DataPath!).Length >= external.WeightBytes);
        Assert.True(new FileInfo(external.ModelPath).Length < external.WeightBytes / 10, "weights left out of model.onnx");
        float[] Prefill(string path)
        {
            using var session = new SharedKvSession(path, config, rows: 1);
            return session.Run(0, 1, s_prompt, [s_prompt.Length - 1], s_prompt.Length);
        }

        var fromExternal = Prefill(external.ModelPath);
        Assert.Equal(Prefill(inline.ModelPath), fromExternal);
        AssertClose(new LlamaReference(config).Logits(s_prompt), fromExternal, "tied embeddings");
    }

    [Fact]
    public void Write_Signature_MatchesDecoderContract()
    {
        var config = LlamaModelConfig.Tiny();
        var files = LlamaModelWriter.Write(_dir.File("tiny/1/model.onnx"), config, decoderConfigPath: _dir.File("tiny/decoder_config.json"));
        using var session = new InferenceSession(files.ModelPath);

        var inputs = session.InputMetadata;
        Assert.Equal(["input_ids", "seqlens_k", "total_sequence_length", "past_key_values.0.key", "past_key_values.0.value",
            "past_key_values.1.key", "past_key_values.1.value"], session.InputNames);
        Assert.Equal(["logits", "next_token", "present.0.key", "present.0.value", "present.1.key", "present.1.value"], session.OutputNames);
        Assert.Equal([-1, -1], inputs["input_ids"].Dimensions);
        Assert.Equal(typeof(long), inputs["input_ids"].ElementType);
        Assert.Equal(typeof(int), inputs["seqlens_k"].ElementType);
        Assert.Empty(inputs["total_sequence_length"].Dimensions);
        Assert.Equal([-1, 2, -1, 16], inputs["past_key_values.1.value"].Dimensions);
        Assert.Equal(["batch", "", "max_len", ""], inputs["past_key_values.1.value"].SymbolicDimensions);
        Assert.Equal([-1, -1, 512], session.OutputMetadata["logits"].Dimensions);
        Assert.Equal([-1, -1], session.OutputMetadata["next_token"].Dimensions);
        Assert.Equal(typeof(long), session.OutputMetadata["next_token"].ElementType);

        using var json = JsonDocument.Parse(File.ReadAllBytes(files.DecoderConfigPath));
        var root = json.RootElement;
        Assert.Equal(_dir.File("tiny/decoder_config.json"), files.DecoderConfigPath);
        Assert.Equal("llama", root.GetProperty("architecture").GetString());
        Assert.Equal("shared_buffer", root.GetProperty("kv_layout").GetString());
        Assert.Equal("float32", root.GetProperty("dtype").GetString());
        Assert.Equal(128, root.GetProperty("max_position").GetInt32());
        Assert.Equal((2, 64, 4, 2, 16, 512, 128, 7), (root.GetProperty("layers").GetInt32(), root.GetProperty("hidden").GetInt32(),
            root.GetProperty("heads").GetInt32(), root.GetProperty("kv_heads").GetInt32(), root.GetProperty("head_dim").GetInt32(),
            root.GetProperty("vocab").GetInt32(), root.GetProperty("intermediate").GetInt32(), root.GetProperty("seed").GetInt32()));
    }

    [Fact]
    public void Weights_SameSeedSameValues_ChunksIndependent()
    {
        var config = LlamaModelConfig.Tiny();
        var embedding = LlamaWeights.Tensors(config).First(t => t.Name == LlamaWeights.EmbeddingName);
        var large = new LlamaTensor(3, "large", [3, 50_000], 0f, 0.02f);   // three chunks, the last one short

        var values = LlamaWeights.Generate(config.Seed, embedding);
        var largeValues = LlamaWeights.Generate(config.Seed, large);
        var second = new float[LlamaWeights.ChunkElements];
        LlamaWeights.FillChunk(config.Seed, large, 1, second);

        Assert.Equal(values, LlamaWeights.Generate(config.Seed, embedding));
        Assert.NotEqual(values, LlamaWeights.Generate(config.Seed + 1, embedding));
        Assert.Equal(largeValues.AsSpan(LlamaWeights.ChunkElements, LlamaWeights.ChunkElements).ToArray(), second);
        Assert.InRange(Math.Sqrt(values.Select(v => (double)v * v).Average()), 0.59, 0.61);
        Assert.InRange(Math.Sqrt(largeValues.Select(v => (double)v * v).Average()), 0.0198, 0.0202);
        Assert.InRange(largeValues.Average(), -2e-4, 2e-4);
    }

    [Theory]
    [InlineData("HeadDim", 8)]
    [InlineData("KvHeads", 3)]
    [InlineData("Layers", 0)]
    public void Validate_BadShape_NamesField(string field, int value)
    {
        var config = field switch
        {
            "HeadDim" => LlamaModelConfig.Tiny() with { HeadDim = value },
            "KvHeads" => LlamaModelConfig.Tiny() with { KvHeads = value },
            _ => LlamaModelConfig.Tiny() with { Layers = value },
        };

        var error = Assert.Throws<ArgumentException>(() => LlamaModelWriter.Write(_dir.File("bad.onnx"), config));

        Assert.Contains(field, error.Message);
    }

    private static void AssertClose(float[] expected, float[] actual, string what, float tolerance = Tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = 0f;
        var at = -1;
        for (var i = 0; i < expected.Length; i++)
        {
            var error = MathF.Abs(expected[i] - actual[i]);
            if (!(error <= worst))
            {
                worst = error;
                at = i;
            }
        }

        Assert.True(worst <= tolerance, $"{what}: logit {at} is {actual[at]}, reference {expected[at]} (|error| {worst} > {tolerance})");
    }
}
