using Sluice.Core.Tensors;

namespace Sluice.Onnx.Graph;

/// <summary>
/// A plain C# forward pass, in FP32, of the decoder <see cref="LlamaModelWriter"/> writes for the same
/// <see cref="LlamaModelConfig"/>: same weights (<see cref="LlamaWeights"/>), RMSNorm, "rotate half" rotary, grouped-query
/// causal attention with scale 1/√head_dim, SwiGLU MLP, tied or untied LM head. For an FP16 config the weights and
/// rotary caches are rounded to FP16 first (activations stay FP32). Meant for small shapes in tests: weights are held
/// as FP32 arrays.
/// </summary>
/// <example><code>
/// var reference = new LlamaReference(LlamaModelConfig.Tiny());
/// var sequence = reference.StartSequence();
/// float[] prefill = sequence.Forward([1, 2, 3]);   // [3, vocab]
/// float[] next = sequence.Forward([42]);           // [1, vocab], position 3
/// </code></example>
public sealed class LlamaReference
{
    private readonly Dictionary<string, float[]> _weights;
    private readonly float[] _cos;
    private readonly float[] _sin;

    /// <summary>Generates the weights of <paramref name="config"/>.</summary>
    public LlamaReference(LlamaModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        var half = config.ElementType == DataType.Fp16;
        _weights = LlamaWeights.Tensors(config).ToDictionary(t => t.Name, t => Round(LlamaWeights.Generate(config.Seed, t), half));
        var (cos, sin) = LlamaWeights.RotaryCaches(config);
        _cos = Round(cos, half);
        _sin = Round(sin, half);
    }

    /// <summary>The model computed.</summary>
    public LlamaModelConfig Config { get; }

    /// <summary>A new, empty sequence with its own KV cache.</summary>
    public LlamaReferenceSequence StartSequence() => new(this);

    /// <summary>The logits <c>[tokens.Length, vocab]</c> (row-major) of a whole sequence from position 0.</summary>
    public float[] Logits(ReadOnlySpan<long> tokens) => StartSequence().Forward(tokens);

    /// <summary>Greedy generation: <paramref name="maxNewTokens"/> argmax tokens after <paramref name="prompt"/> (ties to the lower id).</summary>
    public long[] GreedyGenerate(ReadOnlySpan<long> prompt, int maxNewTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxNewTokens);
        var sequence = StartSequence();
        var logits = sequence.Forward(prompt);
        var generated = new long[maxNewTokens];
        for (var i = 0; i < maxNewTokens; i++)
        {
            generated[i] = ArgMax(logits.AsSpan(logits.Length - Config.Vocab));
            if (i + 1 < maxNewTokens)
            {
                logits = sequence.Forward([generated[i]]);
            }
        }

        return generated;
    }

    /// <summary>Index of the largest value (the first on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }

    internal float[] Weight(string name) => _weights[name];

    internal float Cos(int position, int i) => _cos[position * (Config.ResolvedHeadDim / 2) + i];

    internal float Sin(int position, int i) => _sin[position * (Config.ResolvedHeadDim / 2) + i];

    private static float[] Round(float[] values, bool toHalf)
    {
        if (toHalf)
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = (float)(Half)values[i];
            }
        }

        return values;
    }
}

/// <summary>One sequence of a <see cref="LlamaReference"/>: its KV cache and length; <see cref="Forward"/> appends tokens.</summary>
public sealed class LlamaReferenceSequence
{
    private readonly LlamaReference _model;
    private readonly float[][] _keys;     // per layer [kv_heads, max_position, head_dim], rotary applied
    private readonly float[][] _values;   // per layer [kv_heads, max_position, head_dim]

    internal LlamaReferenceSequence(LlamaReference model)
    {
        _model = model;
        var config = model.Config;
        var size = config.KvHeads * config.MaxPosition * config.ResolvedHeadDim;
        _keys = Enumerable.Range(0, config.Layers).Select(_ => new float[size]).ToArray();
        _values = Enumerable.Range(0, config.Layers).Select(_ => new float[size]).ToArray();
    }

    /// <summary>Tokens processed so far (the position of the next one).</summary>
    public int Length { get; private set; }

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions <see cref="Length"/>.. (prefill, a chunk of one, or one decode token),
    /// appending their keys and values; returns their logits <c>[tokens.Length, vocab]</c> row-major.
    /// </summary>
    public float[] Forward(ReadOnlySpan<long> tokens)
    {
        var config = _model.Config;
        if (Length + tokens.Length > config.MaxPosition)
        {
            throw new ArgumentException($"{Length} + {tokens.Length} tokens exceed MaxPosition {config.MaxPosition}.", nameof(tokens));
        }

        var logits = new float[tokens.Length * config.Vocab];
        for (var t = 0; t < tokens.Length; t++)
        {
            if (tokens[t] < 0 || tokens[t] >= config.Vocab)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens[t], $"Token ids are in [0, {config.Vocab}).");
            }

            Step(tokens[t], logits.AsSpan(t * config.Vocab, config.Vocab));
        }

        return logits;
    }

    private void Step(long token, Span<float> logits)
    {
        var c = _model.Config;
        var hd = c.ResolvedHeadDim;
        var position = Length;
        var x = _model.Weight(LlamaWeights.EmbeddingName).AsSpan((int)token * c.Hidden, c.Hidden).ToArray();
        var h = new float[c.Hidden];
        var qkv = new float[c.QkvWidth];
        var attention = new float[c.Heads * hd];
        var projected = new float[c.Hidden];
        var gateUp = new float[2 * c.Intermediate];
        var scores = new float[position + 1];
        var groupSize = c.Heads / c.KvHeads;
        var scale = 1f / MathF.Sqrt(hd);

        for (var layer = 0; layer < c.Layers; layer++)
        {
            var p = $"model.layers.{layer}.";
            RmsNorm(x, _model.Weight(p + "input_layernorm.weight"), c.RmsNormEpsilon, h);
            MatVec(h, _model.Weight(p + "attn.qkv_proj.weight"), qkv);
            for (var head = 0; head < c.Heads + c.KvHeads; head++)
            {
                Rotate(qkv.AsSpan(head * hd, hd), position);   // query heads, then key heads
            }

            var keys = _keys[layer];
            var values = _values[layer];
            for (var kv = 0; kv < c.KvHeads; kv++)
            {
                qkv.AsSpan((c.Heads + kv) * hd, hd).CopyTo(keys.AsSpan((kv * c.MaxPosition + position) * hd));
                qkv.AsSpan((c.Heads + c.KvHeads + kv) * hd, hd).CopyTo(values.AsSpan((kv * c.MaxPosition + position) * hd));
            }

            Array.Clear(attention);
            for (var head = 0; head < c.Heads; head++)
            {
                var kv = head / groupSize;
                var q = qkv.AsSpan(head * hd, hd);
                var max = float.NegativeInfinity;
                for (var j = 0; j <= position; j++)
                {
                    scores[j] = Dot(q, keys.AsSpan((kv * c.MaxPosition + j) * hd, hd)) * scale;
                    max = MathF.Max(max, scores[j]);
                }

                var sum = 0f;
                for (var j = 0; j <= position; j++)
                {
                    scores[j] = MathF.Exp(scores[j] - max);
                    sum += scores[j];
                }

                var output = attention.AsSpan(head * hd, hd);
                for (var j = 0; j <= position; j++)
                {
                    var weight = scores[j] / sum;
                    var v = values.AsSpan((kv * c.MaxPosition + j) * hd, hd);
                    for (var d = 0; d < hd; d++)
                    {
                        output[d] += weight * v[d];
                    }
                }
            }

            MatVec(attention, _model.Weight(p + "attn.o_proj.weight"), projected);
            Add(x, projected);
            RmsNorm(x, _model.Weight(p + "post_attention_layernorm.weight"), c.RmsNormEpsilon, h);
            MatVec(h, _model.Weight(p + "mlp.gate_up_proj.weight"), gateUp);
            var hidden = new float[c.Intermediate];
            for (var i = 0; i < c.Intermediate; i++)
            {
                var gate = gateUp[i];
                hidden[i] = gate / (1f + MathF.Exp(-gate)) * gateUp[c.Intermediate + i];
            }

            MatVec(hidden, _model.Weight(p + "mlp.down_proj.weight"), projected);
            Add(x, projected);
        }

        RmsNorm(x, _model.Weight(LlamaWeights.FinalNormName), c.RmsNormEpsilon, h);
        if (c.TiedEmbeddings)
        {
            var embedding = _model.Weight(LlamaWeights.EmbeddingName);
            for (var v = 0; v < c.Vocab; v++)
            {
                logits[v] = Dot(h, embedding.AsSpan(v * c.Hidden, c.Hidden));
            }
        }
        else
        {
            MatVec(h, _model.Weight(LlamaWeights.LmHeadName), logits);
        }

        Length++;
    }

    /// <summary>Non-interleaved rotary ("rotate half"): pairs (i, i + head_dim/2) turned by the position's angle i.</summary>
    private void Rotate(Span<float> head, int position)
    {
        var half = head.Length / 2;
        for (var i = 0; i < half; i++)
        {
            float cos = _model.Cos(position, i), sin = _model.Sin(position, i);
            float a = head[i], b = head[i + half];
            head[i] = a * cos - b * sin;
            head[i + half] = b * cos + a * sin;
        }
    }

    private static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> scale, float epsilon, Span<float> result)
    {
        var meanSquare = 0f;
        foreach (var value in x)
        {
            meanSquare += value * value;
        }

        var inverse = 1f / MathF.Sqrt(meanSquare / x.Length + epsilon);
        for (var i = 0; i < x.Length; i++)
        {
            result[i] = x[i] * inverse * scale[i];
        }
    }

    /// <summary><c>result = x · W</c> with <c>W</c> row-major <c>[x.Length, result.Length]</c>.</summary>
    private static void MatVec(ReadOnlySpan<float> x, float[] weights, Span<float> result)
    {
        result.Clear();
        var columns = result.Length;
        for (var i = 0; i < x.Length; i++)
        {
            var row = weights.AsSpan(i * columns, columns);
            var xi = x[i];
            for (var o = 0; o < columns; o++)
            {
                result[o] += xi * row[o];
            }
        }
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    private static void Add(Span<float> x, ReadOnlySpan<float> y)
    {
        for (var i = 0; i < x.Length; i++)
        {
            x[i] += y[i];
        }
    }
}
