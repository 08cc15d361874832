using System.Buffers.Binary;
using Sluice.Core.Tensors;

namespace Sluice.Onnx.Graph;

/// <summary>
/// Small real ONNX models for tests and examples, written to a file path (parent folders are created). Inputs are named
/// <c>INPUT0</c>, <c>INPUT1</c> and outputs <c>OUTPUT0</c>, <c>OUTPUT1</c>, as in Triton's examples; a -1 first dim is
/// the symbolic <c>batch</c> dimension. Each method returns the path it wrote.
/// </summary>
public static class SampleModels
{
    /// <summary>Width of the hidden layers of <see cref="WriteSlow"/>.</summary>
    public const int SlowHiddenWidth = 1024;

    /// <summary>Input and output width of <see cref="WriteSlow"/>.</summary>
    public const int SlowInputWidth = 256;

    /// <summary>
    /// Half-width of <see cref="WriteSlow"/>'s uniform hidden weights, √(6/n): weight variance 2/n, so a MatMul doubles the
    /// variance and Tanh pulls it back, and the activations settle at a fixed size instead of decaying.
    /// </summary>
    public static readonly float SlowHiddenScale = MathF.Sqrt(6f / SlowHiddenWidth);

    /// <summary>
    /// <c>OUTPUT0 = INPUT0 + 1</c> for any numeric type (not BOOL or BYTES; BF16 files are written, but ONNX Runtime's CPU
    /// provider has no BF16 Add). Default dims <c>[-1, 4]</c>, FP32.
    /// </summary>
    public static string WriteAddOne(string path, DataType type = DataType.Fp32, long[]? dims = null)
    {
        dims ??= [-1, 4];
        return new OnnxGraphBuilder("add_one")
            .Input("INPUT0", type, dims)
            .Initializer("one", type, One(type), [])
            .Node("Add", ["INPUT0", "one"], ["OUTPUT0"])
            .Output("OUTPUT0", type, dims)
            .Save(path);
    }

    /// <summary><c>OUTPUT0 = Identity(INPUT0)</c>, for datatype round trips; works for every <see cref="DataType"/> including BYTES.</summary>
    public static string WriteIdentity(string path, DataType type, long[] dims) =>
        new OnnxGraphBuilder("identity")
            .Input("INPUT0", type, dims)
            .Node("Identity", ["INPUT0"], ["OUTPUT0"])
            .Output("OUTPUT0", type, dims)
            .Save(path);

    /// <summary>Triton's "simple" example: FP32 <c>INPUT0</c>, <c>INPUT1</c> <c>[-1, 16]</c>; <c>OUTPUT0 = a + b</c>, <c>OUTPUT1 = a - b</c>.</summary>
    public static string WriteAddSub(string path) =>
        new OnnxGraphBuilder("add_sub")
            .Input("INPUT0", DataType.Fp32, [-1, 16])
            .Input("INPUT1", DataType.Fp32, [-1, 16])
            .Node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"])
            .Node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"])
            .Output("OUTPUT0", DataType.Fp32, [-1, 16])
            .Output("OUTPUT1", DataType.Fp32, [-1, 16])
            .Save(path);

    /// <summary>
    /// A dense layer <c>OUTPUT0 = INPUT0 · W + b</c>, <c>INPUT0</c> FP32 <c>[-1, inFeatures]</c>, <c>OUTPUT0</c> FP32
    /// <c>[-1, outFeatures]</c>, with the deterministic parameters <see cref="MatMulParameters"/> returns.
    /// </summary>
    public static string WriteMatMul(string path, int inFeatures, int outFeatures, int seed)
    {
        var (weights, bias) = MatMulParameters(inFeatures, outFeatures, seed);
        return new OnnxGraphBuilder("matmul")
            .Input("INPUT0", DataType.Fp32, [-1, inFeatures])
            .Initializer("W", weights, [inFeatures, outFeatures])
            .Initializer("b", bias, [outFeatures])
            .Node("MatMul", ["INPUT0", "W"], ["xw"])
            .Node("Add", ["xw", "b"], ["OUTPUT0"])
            .Output("OUTPUT0", DataType.Fp32, [-1, outFeatures])
            .Save(path);
    }

    /// <summary>The weights (row-major <c>[inFeatures, outFeatures]</c>) and bias of <see cref="WriteMatMul"/>.</summary>
    public static (float[] Weights, float[] Bias) MatMulParameters(int inFeatures, int outFeatures, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inFeatures);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outFeatures);
        var weights = DeterministicValues(seed, inFeatures * outFeatures, 1f / MathF.Sqrt(inFeatures));
        var bias = DeterministicValues(seed + 1, outFeatures, 0.1f);
        return (weights, bias);
    }

    /// <summary>
    /// A model that takes a while per run, so queue, timeout and drain tests have work in flight: FP32 <c>INPUT0</c>
    /// <c>[-1, 256]</c> → MatMul to 1024 wide → <paramref name="iterations"/> × (MatMul 1024×1024, Tanh) → MatMul back to
    /// <c>OUTPUT0</c> <c>[-1, 256]</c>. Each iteration is about a million multiply-adds per batch row.
    /// The hidden weights are drawn wide enough (<see cref="SlowHiddenScale"/>) that activations keep their size through any
    /// number of iterations. With the plain 1/√n scale they shrank by about √3 per layer, went through the denormal range
    /// and reached zero: on ONNX Runtime's worker threads denormals are slow, so the model's speed depended on which thread
    /// ran which part, and a 2-thread run was sometimes slower than a 1-thread one.
    /// </summary>
    public static string WriteSlow(string path, int iterations)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(iterations);
        var builder = new OnnxGraphBuilder("slow")
            .Input("INPUT0", DataType.Fp32, [-1, SlowInputWidth])
            .Initializer("W_in", DeterministicValues(1, SlowInputWidth * SlowHiddenWidth, 1f / MathF.Sqrt(SlowInputWidth)), [SlowInputWidth, SlowHiddenWidth])
            .Initializer("W_hidden", DeterministicValues(2, SlowHiddenWidth * SlowHiddenWidth, SlowHiddenScale), [SlowHiddenWidth, SlowHiddenWidth])
            .Initializer("W_out", DeterministicValues(3, SlowHiddenWidth * SlowInputWidth, 1f / MathF.Sqrt(SlowHiddenWidth)), [SlowHiddenWidth, SlowInputWidth])
            .Node("MatMul", ["INPUT0", "W_in"], ["h0"]);
        var current = "h0";
        for (var i = 1; i <= iterations; i++)
        {
            builder.Node("MatMul", [current, "W_hidden"], [$"m{i}"])
                   .Node("Tanh", [$"m{i}"], [$"h{i}"]);
            current = $"h{i}";
        }

        return builder
            .Node("MatMul", [current, "W_out"], ["OUTPUT0"])
            .Output("OUTPUT0", DataType.Fp32, [-1, SlowInputWidth])
            .Save(path);
    }

    /// <summary>A model without a batch dimension: FP32 <c>INPUT0</c> <c>[3]</c>, <c>OUTPUT0 = INPUT0 + 1</c> <c>[3]</c>.</summary>
    public static string WriteNoBatch(string path) => WriteAddOne(path, DataType.Fp32, [3]);

    /// <summary>
    /// <paramref name="count"/> values uniformly spread in <c>[-scale, scale)</c> from a fixed generator (xorshift), so a
    /// test can rebuild a sample's parameters independently of the file.
    /// </summary>
    public static float[] DeterministicValues(int seed, int count, float scale)
    {
        var values = new float[count];
        var state = (uint)seed * 2654435761u + 0x9E3779B9u;
        for (var i = 0; i < count; i++)
        {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            values[i] = ((state >> 8) * (1f / (1 << 24)) * 2f - 1f) * scale;
        }

        return values;
    }

    /// <summary>The value 1 as one element of <paramref name="type"/>, little-endian.</summary>
    private static byte[] One(DataType type)
    {
        var size = type.ElementSize();
        var bytes = new byte[size];
        switch (type)
        {
            case DataType.Fp16:
                BinaryPrimitives.WriteHalfLittleEndian(bytes, (Half)1f);
                break;
            case DataType.Bf16:
                BinaryPrimitives.WriteUInt16LittleEndian(bytes, 0x3F80);   // the top half of FP32 1.0
                break;
            case DataType.Fp32:
                BinaryPrimitives.WriteSingleLittleEndian(bytes, 1f);
                break;
            case DataType.Fp64:
                BinaryPrimitives.WriteDoubleLittleEndian(bytes, 1d);
                break;
            case DataType.Bool or DataType.Bytes or DataType.Invalid:
                throw new ArgumentException($"Add is not defined for {type}.", nameof(type));
            default:
                bytes[0] = 1;   // integers: little-endian 1
                break;
        }

        return bytes;
    }
}
