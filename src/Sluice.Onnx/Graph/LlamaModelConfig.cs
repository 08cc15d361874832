using Sluice.Core.Tensors;

namespace Sluice.Onnx.Graph;

/// <summary>
/// The shape, element type and seeded random weights of a Llama-architecture decoder that <see cref="LlamaModelWriter"/>
/// writes and <see cref="LlamaReference"/> computes. Defaults are a Llama-1B-like shape (TinyLlama 1.1B) in FP16.
/// </summary>
public sealed record LlamaModelConfig
{
    /// <summary>Number of decoder layers.</summary>
    public int Layers { get; init; } = 16;

    /// <summary>Hidden (model) width.</summary>
    public int Hidden { get; init; } = 2048;

    /// <summary>Query heads.</summary>
    public int Heads { get; init; } = 32;

    /// <summary>Key/value heads (grouped-query attention); divides <see cref="Heads"/>.</summary>
    public int KvHeads { get; init; } = 8;

    /// <summary>Width of one head; 0 means <see cref="Hidden"/> / <see cref="Heads"/>. ONNX Runtime's rotary needs a multiple of 16.</summary>
    public int HeadDim { get; init; }

    /// <summary>Width of the SwiGLU MLP.</summary>
    public int Intermediate { get; init; } = 5632;

    /// <summary>Vocabulary size.</summary>
    public int Vocab { get; init; } = 32000;

    /// <summary>Rows of the rotary cos/sin caches: the longest sequence (and so the longest KV buffer) the model serves.</summary>
    public int MaxPosition { get; init; } = 2048;

    /// <summary>Element type of weights, activations, logits and KV: <see cref="DataType.Fp32"/> or <see cref="DataType.Fp16"/>.</summary>
    public DataType ElementType { get; init; } = DataType.Fp16;

    /// <summary>True: the LM head is the transposed token embedding (one weight, as Llama 3.2 1B); false: its own weight.</summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>
    /// True: the written file stores each projection (and an untied LM head) as <c>[out, in]</c>, as PyTorch's
    /// <c>nn.Linear</c> does, and multiplies with <c>com.microsoft.FusedMatMul</c> <c>transB = 1</c>; a tied LM head is then
    /// the embedding itself, with no transposed copy. The model computes the same function either way; what changes is the
    /// GEMM cuBLAS runs (weights read along their contiguous dimension). ONNX Runtime's CPU FusedMatMul is FP32 only.
    /// </summary>
    public bool TransposedProjections { get; init; }

    /// <summary>Seed of every weight.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Standard deviation of the projection weights (QKV, O, gate/up, down, untied LM head).</summary>
    public float WeightStd { get; init; } = 0.02f;

    /// <summary>Standard deviation of the token embedding.</summary>
    public float EmbeddingStd { get; init; } = 0.02f;

    /// <summary>Standard deviation around 1 of the RMSNorm scales (0: all ones).</summary>
    public float NormStd { get; init; }

    /// <summary>RMSNorm epsilon.</summary>
    public float RmsNormEpsilon { get; init; } = 1e-6f;

    /// <summary>Rotary base: the frequency of pair i is <c>theta^(-2i/head_dim)</c>.</summary>
    public float RopeTheta { get; init; } = 10000f;

    /// <summary>
    /// A tiny model for tests: 2 layers, hidden 64, 4 heads, 2 KV heads, head dim 16, MLP 128, vocab 512, 128 positions,
    /// FP32, with weights large enough (projection std 0.08, embedding 0.6, norm 0.1) that greedy choices win by clear margins.
    /// </summary>
    public static LlamaModelConfig Tiny(DataType elementType = DataType.Fp32, int seed = 7) => new()
    {
        Layers = 2, Hidden = 64, Heads = 4, KvHeads = 2, HeadDim = 16, Intermediate = 128, Vocab = 512, MaxPosition = 128,
        ElementType = elementType, Seed = seed, WeightStd = 0.08f, EmbeddingStd = 0.6f, NormStd = 0.1f,
    };

    /// <summary>The head width in use (<see cref="HeadDim"/>, or <see cref="Hidden"/> / <see cref="Heads"/> when 0).</summary>
    public int ResolvedHeadDim => HeadDim > 0 ? HeadDim : Heads > 0 ? Hidden / Heads : 0;

    /// <summary>Columns of the packed QKV projection: <c>(heads + 2 kv_heads) head_dim</c>.</summary>
    public int QkvWidth => (Heads + 2 * KvHeads) * ResolvedHeadDim;

    /// <summary>The name of <see cref="ElementType"/> in <c>decoder_config.json</c>: <c>float32</c> or <c>float16</c>.</summary>
    public string DTypeName => ElementType == DataType.Fp16 ? "float16" : "float32";

    /// <summary>Bytes per element of <see cref="ElementType"/>.</summary>
    public int ElementSize => ElementType == DataType.Fp16 ? 2 : 4;

    /// <summary>Number of weight parameters (embedding, layers, final norm, untied head).</summary>
    public long ParameterCount => LlamaWeights.Tensors(this).Sum(t => t.ElementCount);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field that makes no valid model.</summary>
    public void Validate()
    {
        static void Positive(int value, string field)
        {
            if (value <= 0)
            {
                throw new ArgumentException($"LlamaModelConfig.{field} must be positive, got {value}.", field);
            }
        }

        Positive(Layers, nameof(Layers));
        Positive(Hidden, nameof(Hidden));
        Positive(Heads, nameof(Heads));
        Positive(KvHeads, nameof(KvHeads));
        Positive(Intermediate, nameof(Intermediate));
        Positive(Vocab, nameof(Vocab));
        Positive(MaxPosition, nameof(MaxPosition));
        if (HeadDim < 0)
        {
            throw new ArgumentException($"LlamaModelConfig.HeadDim must be positive (or 0 for Hidden / Heads), got {HeadDim}.", nameof(HeadDim));
        }

        if (HeadDim == 0 && Hidden % Heads != 0)
        {
            throw new ArgumentException($"LlamaModelConfig.Hidden ({Hidden}) must be a multiple of Heads ({Heads}) when HeadDim is 0.", nameof(Hidden));
        }

        if (Heads % KvHeads != 0)
        {
            throw new ArgumentException($"LlamaModelConfig.Heads ({Heads}) must be a multiple of KvHeads ({KvHeads}).", nameof(KvHeads));
        }

        if (ResolvedHeadDim % 16 != 0)
        {
            throw new ArgumentException(
                $"LlamaModelConfig.HeadDim ({ResolvedHeadDim}) must be a multiple of 16 (ONNX Runtime's GroupQueryAttention rotary).", nameof(HeadDim));
        }

        if (ElementType is not (DataType.Fp32 or DataType.Fp16))
        {
            throw new ArgumentException($"LlamaModelConfig.ElementType must be Fp32 or Fp16, got {ElementType}.", nameof(ElementType));
        }

        if (!(WeightStd >= 0) || !(EmbeddingStd >= 0) || !(NormStd >= 0))
        {
            throw new ArgumentException("LlamaModelConfig.WeightStd, EmbeddingStd and NormStd must be non-negative.", nameof(WeightStd));
        }

        if (!(RmsNormEpsilon > 0) || !(RopeTheta > 1))
        {
            throw new ArgumentException("LlamaModelConfig.RmsNormEpsilon must be positive and RopeTheta above 1.", nameof(RopeTheta));
        }
    }
}
