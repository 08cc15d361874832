namespace Sluice.Onnx.Graph;

/// <summary>One weight of a <see cref="LlamaModelConfig"/> model: its initializer name, row-major dims and distribution.</summary>
/// <param name="Index">Position in generation order; part of the random stream's seed.</param>
/// <param name="Name">The ONNX initializer name.</param>
/// <param name="Dims">Row-major dims; projections are <c>[in, out]</c> (what MatMul multiplies on the right).</param>
/// <param name="Mean">Centre of the values (1 for RMSNorm scales, else 0).</param>
/// <param name="Std">Standard deviation of the values.</param>
public sealed record LlamaTensor(int Index, string Name, long[] Dims, float Mean, float Std)
{
    /// <summary>Number of elements.</summary>
    public long ElementCount => Dims.Aggregate(1L, (product, dim) => product * dim);
}

/// <summary>
/// The weights of a <see cref="LlamaModelConfig"/> model, generated once for both <see cref="LlamaModelWriter"/> and
/// <see cref="LlamaReference"/>. Each tensor is cut into chunks of <see cref="ChunkElements"/> values; chunk c of tensor t
/// draws from its own xoshiro256** stream seeded from (seed, t, c), so chunks generate in parallel and the values do not
/// depend on who asks or in which order. Values are uniform on <c>mean ± √3·std</c> (standard deviation <c>std</c>):
/// as good as a normal for random-weight models and one draw per two values.
/// </summary>
public static class LlamaWeights
{
    /// <summary>Values per independently seeded chunk.</summary>
    public const int ChunkElements = 1 << 16;

    /// <summary>The weights in generation (and file) order.</summary>
    public static IReadOnlyList<LlamaTensor> Tensors(LlamaModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var headDim = config.ResolvedHeadDim;
        var tensors = new List<LlamaTensor>();
        void Add(string name, long[] dims, float mean, float std) => tensors.Add(new LlamaTensor(tensors.Count, name, dims, mean, std));

        Add(EmbeddingName, [config.Vocab, config.Hidden], 0, config.EmbeddingStd);
        for (var layer = 0; layer < config.Layers; layer++)
        {
            var prefix = $"model.layers.{layer}.";
            Add(prefix + "input_layernorm.weight", [config.Hidden], 1, config.NormStd);
            Add(prefix + "attn.qkv_proj.weight", [config.Hidden, config.QkvWidth], 0, config.WeightStd);
            Add(prefix + "attn.o_proj.weight", [(long)config.Heads * headDim, config.Hidden], 0, config.WeightStd);
            Add(prefix + "post_attention_layernorm.weight", [config.Hidden], 1, config.NormStd);
            Add(prefix + "mlp.gate_up_proj.weight", [config.Hidden, 2L * config.Intermediate], 0, config.WeightStd);
            Add(prefix + "mlp.down_proj.weight", [config.Intermediate, config.Hidden], 0, config.WeightStd);
        }

        Add(FinalNormName, [config.Hidden], 1, config.NormStd);
        if (!config.TiedEmbeddings)
        {
            Add(LmHeadName, [config.Hidden, config.Vocab], 0, config.WeightStd);
        }

        return tensors;
    }

    /// <summary>The token embedding <c>[vocab, hidden]</c>.</summary>
    public const string EmbeddingName = "model.embed_tokens.weight";

    /// <summary>The final RMSNorm scale <c>[hidden]</c>.</summary>
    public const string FinalNormName = "model.norm.weight";

    /// <summary>The untied LM head <c>[hidden, vocab]</c>.</summary>
    public const string LmHeadName = "lm_head.weight";

    /// <summary>Number of chunks of <paramref name="tensor"/>.</summary>
    public static long ChunkCount(LlamaTensor tensor) => (tensor.ElementCount + ChunkElements - 1) / ChunkElements;

    /// <summary>
    /// Writes chunk <paramref name="chunk"/> of <paramref name="tensor"/> into <paramref name="destination"/>, which must be
    /// exactly that chunk's length (<see cref="ChunkElements"/>, less for the last chunk).
    /// </summary>
    public static void FillChunk(int seed, LlamaTensor tensor, long chunk, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var start = chunk * ChunkElements;
        var expected = Math.Min(ChunkElements, tensor.ElementCount - start);
        if (chunk < 0 || expected <= 0 || destination.Length != expected)
        {
            throw new ArgumentException($"Chunk {chunk} of '{tensor.Name}' has {Math.Max(expected, 0)} values; the span has {destination.Length}.", nameof(destination));
        }

        if (tensor.Std == 0)
        {
            destination.Fill(tensor.Mean);
            return;
        }

        var rng = new Xoshiro256(Mix((ulong)(uint)seed, (ulong)tensor.Index, (ulong)chunk));
        var scale = tensor.Std * MathF.Sqrt(3f) * 2f / (1 << 24);
        var offset = tensor.Mean - tensor.Std * MathF.Sqrt(3f) + scale * 0.5f;   // centre of the 2^24 bins
        var i = 0;
        for (; i + 1 < destination.Length; i += 2)
        {
            var bits = rng.Next();
            destination[i] = offset + scale * (bits >> 40);
            destination[i + 1] = offset + scale * ((bits >> 16) & 0xFFFFFF);
        }

        if (i < destination.Length)
        {
            destination[i] = offset + scale * (rng.Next() >> 40);
        }
    }

    /// <summary>All of <paramref name="tensor"/> as FP32 (chunks generated in parallel).</summary>
    public static float[] Generate(int seed, LlamaTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var values = new float[checked((int)tensor.ElementCount)];
        Parallel.For(0L, ChunkCount(tensor), chunk =>
        {
            var start = (int)(chunk * ChunkElements);
            FillChunk(seed, tensor, chunk, values.AsSpan(start, Math.Min(ChunkElements, values.Length - start)));
        });
        return values;
    }

    /// <summary>
    /// The rotary caches <c>[max_position, head_dim / 2]</c>: <c>cos/sin(pos · theta^(-2i/head_dim))</c>, computed in double.
    /// </summary>
    public static (float[] Cos, float[] Sin) RotaryCaches(LlamaModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var half = config.ResolvedHeadDim / 2;
        var cos = new float[config.MaxPosition * half];
        var sin = new float[cos.Length];
        for (var pos = 0; pos < config.MaxPosition; pos++)
        {
            for (var i = 0; i < half; i++)
            {
                var angle = pos * Math.Pow(config.RopeTheta, -2.0 * i / config.ResolvedHeadDim);
                cos[pos * half + i] = (float)Math.Cos(angle);
                sin[pos * half + i] = (float)Math.Sin(angle);
            }
        }

        return (cos, sin);
    }

    private static ulong Mix(ulong seed, ulong tensor, ulong chunk)
    {
        var state = seed * 0x9E3779B97F4A7C15UL;
        state = SplitMix(ref state) ^ (tensor * 0xBF58476D1CE4E5B9UL);
        state = SplitMix(ref state) ^ (chunk * 0x94D049BB133111EBUL);
        return SplitMix(ref state);
    }

    private static ulong SplitMix(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>xoshiro256** (Blackman and Vigna), state seeded by SplitMix64.</summary>
    private struct Xoshiro256
    {
        private ulong _s0, _s1, _s2, _s3;

        public Xoshiro256(ulong seed)
        {
            _s0 = SplitMix(ref seed);
            _s1 = SplitMix(ref seed);
            _s2 = SplitMix(ref seed);
            _s3 = SplitMix(ref seed);
        }

        public ulong Next()
        {
            var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
            var t = _s1 << 17;
            _s2 ^= _s0;
            _s3 ^= _s1;
            _s1 ^= _s2;
            _s0 ^= _s3;
            _s2 ^= t;
            _s3 = ulong.RotateLeft(_s3, 45);
            return result;
        }
    }
}
