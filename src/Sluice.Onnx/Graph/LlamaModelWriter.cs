using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;
using Sluice.Core.Tensors;

namespace Sluice.Onnx.Graph;

/// <summary>Where <see cref="LlamaModelWriter"/> puts the weights.</summary>
public enum LlamaWeightStorage
{
    /// <summary>Inline up to <see cref="LlamaModelWriter.InlineLimitBytes"/>, external above it.</summary>
    Auto,

    /// <summary>Inside model.onnx (refused above <see cref="LlamaModelWriter.InlineLimitBytes"/>).</summary>
    Inline,

    /// <summary>In <c>model.onnx.data</c> beside the model (ONNX external data, each tensor 4096-byte aligned).</summary>
    External,
}

/// <summary>What <see cref="LlamaModelWriter.Write"/> wrote.</summary>
/// <param name="ModelPath">The ONNX file.</param>
/// <param name="DataPath">The external data file, or null when the weights are inline.</param>
/// <param name="DecoderConfigPath">The <c>decoder_config.json</c> written.</param>
/// <param name="WeightBytes">Bytes of weights (without rotary caches or alignment).</param>
public sealed record LlamaModelFiles(string ModelPath, string? DataPath, string DecoderConfigPath, long WeightBytes);

/// <summary>
/// Writes a Llama-architecture decoder with seeded random weights (<see cref="LlamaWeights"/>) in the shared-KV-buffer
/// layout: ONNX Runtime's <c>com.microsoft.GroupQueryAttention</c> with past and present of each layer meant to be bound
/// to one preallocated buffer, so the model writes new keys and values in place.
/// </summary>
/// <remarks>
/// <para>Inputs: <c>input_ids</c> int64 <c>[batch, seq]</c>; <c>seqlens_k</c> int32 <c>[batch]</c> (per row the total
/// length after this step minus 1); <c>total_sequence_length</c> int32 scalar; <c>past_key_values.{i}.key/.value</c> T
/// <c>[batch, kv_heads, max_len, head_dim]</c>. Outputs: <c>logits</c> T <c>[batch, seq, vocab]</c>; <c>next_token</c> int64
/// <c>[batch, seq]</c> (ArgMax of the logits);
/// <c>present.{i}.key/.value</c> T <c>[batch, kv_heads, max_len, head_dim]</c>. <c>max_len</c> is symbolic: any buffer
/// length up to <see cref="LlamaModelConfig.MaxPosition"/> (the rotary caches' rows) works while total ≤ buffer length.</para>
/// <para>Graph: Gather(embedding) → per layer RMSNorm (<c>SimplifiedLayerNormalization</c> for the first layer,
/// <c>com.microsoft.SkipSimplifiedLayerNormalization</c> adding the residual after that, its output 3 the residual sum) →
/// MatMul packed QKV → GroupQueryAttention (packed query, rotary inside with non-interleaved "rotate half" caches, causal,
/// scale 1/√head_dim) → MatMul o_proj → SkipSimplifiedLayerNormalization → MatMul packed gate_up → Split →
/// SiLU(gate)·up (Sigmoid, Mul, Mul) → MatMul down → … → final SkipSimplifiedLayerNormalization → MatMul LM head (the
/// transposed embedding when tied) → ArgMax.</para>
/// <para>Weights stream to the data file chunk by chunk as they are generated, never held whole.</para>
/// </remarks>
public static class LlamaModelWriter
{
    /// <summary>Name of the decoder settings file beside a model folder's version folders.</summary>
    public const string DecoderConfigFile = "decoder_config.json";

    /// <summary>Above this many bytes of weights, <see cref="LlamaWeightStorage.Auto"/> writes external data.</summary>
    public const long InlineLimitBytes = 1L << 30;

    /// <summary>Alignment of each tensor in the external data file (a page, so ONNX Runtime may map it).</summary>
    public const int ExternalAlignment = 4096;

    private const int ChunksPerGroup = 64;

    /// <summary>
    /// Output with each position's greedy next token: int64 <c>[batch, seq]</c>, ArgMax of the logits (first index of the
    /// largest), so a server can take greedy tokens without copying logits off the device.
    /// </summary>
    public const string NextTokenOutput = "next_token";

    /// <summary>Input name of a layer's past keys.</summary>
    public static string PastKeyName(int layer) => $"past_key_values.{layer}.key";

    /// <summary>Input name of a layer's past values.</summary>
    public static string PastValueName(int layer) => $"past_key_values.{layer}.value";

    /// <summary>Output name of a layer's present keys.</summary>
    public static string PresentKeyName(int layer) => $"present.{layer}.key";

    /// <summary>Output name of a layer's present values.</summary>
    public static string PresentValueName(int layer) => $"present.{layer}.value";

    /// <summary>
    /// Writes the model to <paramref name="modelPath"/> (folders created), its weights inline or in
    /// <c>&lt;model file name&gt;.data</c> beside it, and <c>decoder_config.json</c> to <paramref name="decoderConfigPath"/>
    /// (default: beside the model).
    /// </summary>
    public static LlamaModelFiles Write(string modelPath, LlamaModelConfig config, LlamaWeightStorage storage = LlamaWeightStorage.Auto,
        string? decoderConfigPath = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var tensors = LlamaWeights.Tensors(config);
        var weightBytes = tensors.Sum(t => t.ElementCount) * config.ElementSize;
        var external = storage switch
        {
            LlamaWeightStorage.External => true,
            LlamaWeightStorage.Inline when weightBytes > InlineLimitBytes => throw new ArgumentException(
                $"{weightBytes} bytes of weights are too many to write inline (limit {InlineLimitBytes}); use external data.", nameof(storage)),
            LlamaWeightStorage.Inline => false,
            _ => weightBytes > InlineLimitBytes,
        };

        var fullPath = Path.GetFullPath(modelPath);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        var dataFileName = Path.GetFileName(fullPath) + ".data";
        var dataPath = external ? Path.Combine(Path.GetDirectoryName(fullPath)!, dataFileName) : null;

        var builder = new OnnxGraphBuilder("llama_gqa_shared_kv").Opset(OnnxGraphBuilder.MicrosoftDomain, 1);
        if (dataPath is not null)
        {
            using var data = new FileStream(dataPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
            foreach (var tensor in tensors)
            {
                var padding = (int)((ExternalAlignment - data.Position % ExternalAlignment) % ExternalAlignment);
                data.Write(new byte[padding]);
                var offset = data.Position;
                WriteTensor(config, tensor, data.Write);
                builder.ExternalInitializer(tensor.Name, config.ElementType, StoredDims(config, tensor), dataFileName, offset, data.Position - offset);
            }
        }
        else
        {
            foreach (var tensor in tensors)
            {
                var bytes = new byte[tensor.ElementCount * config.ElementSize];
                var written = 0;
                WriteTensor(config, tensor, span =>
                {
                    span.CopyTo(bytes.AsSpan(written));
                    written += span.Length;
                });
                builder.Initializer(tensor.Name, config.ElementType, bytes, StoredDims(config, tensor));
            }
        }

        BuildGraph(builder, config);
        builder.Save(fullPath);
        var configPath = WriteDecoderConfig(decoderConfigPath ?? Path.Combine(Path.GetDirectoryName(fullPath)!, DecoderConfigFile), config);
        return new LlamaModelFiles(fullPath, dataPath, configPath, weightBytes);
    }

    /// <summary>
    /// Writes <c>decoder_config.json</c>: architecture, layers, hidden, heads, kv_heads, head_dim, vocab, intermediate,
    /// max_position, dtype, kv_layout (<c>shared_buffer</c>), seed, tied_embeddings, init stds, rms_norm_eps, rope_theta,
    /// and the input and output names.
    /// </summary>
    public static string WriteDecoderConfig(string path, LlamaModelConfig config)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(config);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("architecture", "llama");
        json.WriteNumber("layers", config.Layers);
        json.WriteNumber("hidden", config.Hidden);
        json.WriteNumber("heads", config.Heads);
        json.WriteNumber("kv_heads", config.KvHeads);
        json.WriteNumber("head_dim", config.ResolvedHeadDim);
        json.WriteNumber("vocab", config.Vocab);
        json.WriteNumber("intermediate", config.Intermediate);
        json.WriteNumber("max_position", config.MaxPosition);
        json.WriteString("dtype", config.DTypeName);
        json.WriteString("kv_layout", "shared_buffer");
        json.WriteNumber("seed", config.Seed);
        json.WriteBoolean("tied_embeddings", config.TiedEmbeddings);
        json.WriteBoolean("transposed_projections", config.TransposedProjections);
        json.WriteNumber("init_std", config.WeightStd);
        json.WriteNumber("embedding_std", config.EmbeddingStd);
        json.WriteNumber("norm_std", config.NormStd);
        json.WriteNumber("rms_norm_eps", config.RmsNormEpsilon);
        json.WriteNumber("rope_theta", config.RopeTheta);
        json.WriteStartArray("inputs");
        json.WriteStringValue("input_ids");
        json.WriteStringValue("seqlens_k");
        json.WriteStringValue("total_sequence_length");
        for (var layer = 0; layer < config.Layers; layer++)
        {
            json.WriteStringValue(PastKeyName(layer));
            json.WriteStringValue(PastValueName(layer));
        }

        json.WriteEndArray();
        json.WriteStartArray("outputs");
        json.WriteStringValue("logits");
        json.WriteStringValue(NextTokenOutput);
        for (var layer = 0; layer < config.Layers; layer++)
        {
            json.WriteStringValue(PresentKeyName(layer));
            json.WriteStringValue(PresentValueName(layer));
        }

        json.WriteEndArray();
        json.WriteEndObject();
        return path;
    }

    /// <summary>Whether <paramref name="tensor"/> is stored <c>[out, in]</c> in the file (<see cref="LlamaModelConfig.TransposedProjections"/>).</summary>
    private static bool IsTransposed(LlamaModelConfig config, LlamaTensor tensor) =>
        config.TransposedProjections && tensor.Dims.Length == 2 && tensor.Name != LlamaWeights.EmbeddingName;

    private static long[] StoredDims(LlamaModelConfig config, LlamaTensor tensor) =>
        IsTransposed(config, tensor) ? [tensor.Dims[1], tensor.Dims[0]] : tensor.Dims;

    /// <summary>
    /// Hands <paramref name="tensor"/>'s bytes to <paramref name="write"/> in file order: streamed a group of chunks at a time,
    /// or, for a transposed projection, generated whole and written <c>[out, in]</c>.
    /// </summary>
    private static void WriteTensor(LlamaModelConfig config, LlamaTensor tensor, SpanWriter write)
    {
        if (!IsTransposed(config, tensor))
        {
            StreamTensor(config, tensor, write);
            return;
        }

        var values = LlamaWeights.Generate(config.Seed, tensor);
        int rows = (int)tensor.Dims[0], columns = (int)tensor.Dims[1];
        var row = new float[rows];
        for (var column = 0; column < columns; column++)
        {
            for (var r = 0; r < rows; r++)
            {
                row[r] = values[(long)r * columns + column];
            }

            write(ToElementBytes(row, config.ElementType));
        }
    }

    /// <summary>Hands <paramref name="tensor"/>'s bytes (in <paramref name="config"/>'s element type) to <paramref name="write"/> in order, a group of chunks at a time.</summary>
    private static void StreamTensor(LlamaModelConfig config, LlamaTensor tensor, SpanWriter write)
    {
        var chunks = LlamaWeights.ChunkCount(tensor);
        var half = config.ElementType == DataType.Fp16;
        var group = ArrayPool<byte>.Shared.Rent(ChunksPerGroup * LlamaWeights.ChunkElements * config.ElementSize);
        try
        {
            for (var first = 0L; first < chunks; first += ChunksPerGroup)
            {
                var count = (int)Math.Min(ChunksPerGroup, chunks - first);
                var groupStart = first * LlamaWeights.ChunkElements;
                var groupElements = (int)Math.Min((long)count * LlamaWeights.ChunkElements, tensor.ElementCount - groupStart);
                var firstChunk = first;
                Parallel.For(0, count, () => new float[LlamaWeights.ChunkElements], (i, _, scratch) =>
                {
                    var start = i * LlamaWeights.ChunkElements;
                    var length = Math.Min(LlamaWeights.ChunkElements, groupElements - start);
                    if (half)
                    {
                        var values = scratch.AsSpan(0, length);
                        LlamaWeights.FillChunk(config.Seed, tensor, firstChunk + i, values);
                        var target = MemoryMarshal.Cast<byte, Half>(group.AsSpan(start * 2, length * 2));
                        for (var j = 0; j < values.Length; j++)
                        {
                            target[j] = (Half)values[j];
                        }
                    }
                    else
                    {
                        LlamaWeights.FillChunk(config.Seed, tensor, firstChunk + i, MemoryMarshal.Cast<byte, float>(group.AsSpan(start * 4, length * 4)));
                    }

                    return scratch;
                }, _ => { });
                write(group.AsSpan(0, groupElements * config.ElementSize));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(group);
        }
    }

    private delegate void SpanWriter(ReadOnlySpan<byte> bytes);

    private static void BuildGraph(OnnxGraphBuilder builder, LlamaModelConfig config)
    {
        var type = config.ElementType;
        var headDim = config.ResolvedHeadDim;
        var (cos, sin) = LlamaWeights.RotaryCaches(config);
        long[] cacheDims = [config.MaxPosition, headDim / 2];
        builder.Initializer("cos_cache", type, ToElementBytes(cos, type), cacheDims);
        builder.Initializer("sin_cache", type, ToElementBytes(sin, type), cacheDims);
        builder.Initializer("mlp_split", new long[] { config.Intermediate, config.Intermediate }, [2]);

        OnnxDim[] kvDims = ["batch", config.KvHeads, "max_len", headDim];
        builder.Input("input_ids", DataType.Int64, ["batch", "seq"])
            .Input("seqlens_k", DataType.Int32, ["batch"])
            .Input("total_sequence_length", DataType.Int32, Array.Empty<OnnxDim>());
        for (var layer = 0; layer < config.Layers; layer++)
        {
            builder.Input(PastKeyName(layer), type, kvDims).Input(PastValueName(layer), type, kvDims);
        }

        builder.Output("logits", type, ["batch", "seq", config.Vocab]);
        builder.Output(NextTokenOutput, DataType.Int64, ["batch", "seq"]);
        for (var layer = 0; layer < config.Layers; layer++)
        {
            builder.Output(PresentKeyName(layer), type, kvDims).Output(PresentValueName(layer), type, kvDims);
        }

        var epsilon = OnnxGraphBuilder.Attribute("epsilon", config.RmsNormEpsilon);
        void Project(string input, string weight, string output)
        {
            if (config.TransposedProjections)
            {
                builder.DomainNode(OnnxGraphBuilder.MicrosoftDomain, "FusedMatMul", [input, weight], [output], OnnxGraphBuilder.Attribute("transB", 1L));
            }
            else
            {
                builder.Node("MatMul", [input, weight], [output]);
            }
        }

        builder.Node("Gather", [LlamaWeights.EmbeddingName, "input_ids"], ["embeddings"], OnnxGraphBuilder.Attribute("axis", 0L));
        string mlpOut = "", residual = "embeddings";
        for (var layer = 0; layer < config.Layers; layer++)
        {
            var p = $"model.layers.{layer}.";
            var l = $"/layers.{layer}/";
            if (layer == 0)
            {
                builder.Node("SimplifiedLayerNormalization", ["embeddings", p + "input_layernorm.weight"], [l + "norm1"],
                    OnnxGraphBuilder.Attribute("axis", -1L), epsilon, OnnxGraphBuilder.Attribute("stash_type", 1L));
            }
            else
            {
                builder.DomainNode(OnnxGraphBuilder.MicrosoftDomain, "SkipSimplifiedLayerNormalization",
                    [mlpOut, residual, p + "input_layernorm.weight"], [l + "norm1", "", "", l + "residual1"], epsilon);
                residual = l + "residual1";
            }

            Project(l + "norm1", p + "attn.qkv_proj.weight", l + "qkv");
            builder.DomainNode(OnnxGraphBuilder.MicrosoftDomain, "GroupQueryAttention",
                [l + "qkv", "", "", PastKeyName(layer), PastValueName(layer), "seqlens_k", "total_sequence_length", "cos_cache", "sin_cache"],
                [l + "attn", PresentKeyName(layer), PresentValueName(layer)],
                OnnxGraphBuilder.Attribute("num_heads", (long)config.Heads),
                OnnxGraphBuilder.Attribute("kv_num_heads", (long)config.KvHeads),
                OnnxGraphBuilder.Attribute("do_rotary", 1L),
                OnnxGraphBuilder.Attribute("rotary_interleaved", 0L));
            Project(l + "attn", p + "attn.o_proj.weight", l + "attn_out");
            builder.DomainNode(OnnxGraphBuilder.MicrosoftDomain, "SkipSimplifiedLayerNormalization",
                [l + "attn_out", residual, p + "post_attention_layernorm.weight"], [l + "norm2", "", "", l + "residual2"], epsilon);
            residual = l + "residual2";
            Project(l + "norm2", p + "mlp.gate_up_proj.weight", l + "gate_up");
            builder.Node("Split", [l + "gate_up", "mlp_split"], [l + "gate", l + "up"], OnnxGraphBuilder.Attribute("axis", -1L));
            builder.Node("Sigmoid", [l + "gate"], [l + "gate_sigmoid"]);
            builder.Node("Mul", [l + "gate", l + "gate_sigmoid"], [l + "gate_silu"]);
            builder.Node("Mul", [l + "gate_silu", l + "up"], [l + "mlp_hidden"]);
            Project(l + "mlp_hidden", p + "mlp.down_proj.weight", l + "mlp_out");
            mlpOut = l + "mlp_out";
        }

        builder.DomainNode(OnnxGraphBuilder.MicrosoftDomain, "SkipSimplifiedLayerNormalization",
            [mlpOut, residual, LlamaWeights.FinalNormName], ["final_norm"], epsilon);
        var head = LlamaWeights.LmHeadName;
        if (config.TiedEmbeddings && config.TransposedProjections)
        {
            head = LlamaWeights.EmbeddingName;   // [vocab, hidden] is already the [out, in] layout
        }
        else if (config.TiedEmbeddings)
        {
            head = "lm_head.tied_weight";
            builder.Node("Transpose", [LlamaWeights.EmbeddingName], [head], OnnxGraphBuilder.Attribute("perm", new long[] { 1, 0 }));
        }

        Project("final_norm", head, "logits");
        builder.Node("ArgMax", ["logits"], [NextTokenOutput], OnnxGraphBuilder.Attribute("axis", -1L), OnnxGraphBuilder.Attribute("keepdims", 0L));
    }

    private static byte[] ToElementBytes(float[] values, DataType type)
    {
        if (type == DataType.Fp32)
        {
            return MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        }

        var halves = new Half[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            halves[i] = (Half)values[i];
        }

        return MemoryMarshal.AsBytes(halves.AsSpan()).ToArray();
    }
}
