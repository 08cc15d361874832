using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Graph;

/// <summary>Each sample model loads in ONNX Runtime and computes what its documentation says, checked against C# arithmetic.</summary>
public sealed class SampleModelsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void WriteAddOne_Default_OutputsInputPlusOne()
    {
        var path = SampleModels.WriteAddOne(_dir.File("add_one/1/model.onnx"));
        float[] x = [1.5f, -2f, 0f, 1e6f, 3f, 4f, 5f, 6f];

        var outputs = BareOnnx.RunFloat(path, ("INPUT0", x, [2, 4]));

        Assert.Equal(x.Select(v => v + 1f).ToArray(), outputs["OUTPUT0"].Values);
        Assert.Equal([2L, 4L], outputs["OUTPUT0"].Shape);
    }

    [Fact]
    public void WriteAddSub_TwoInputs_OutputsSumAndDifference()
    {
        var path = SampleModels.WriteAddSub(_dir.File("add_sub.onnx"));
        var a = Enumerable.Range(0, 32).Select(i => i * 0.5f).ToArray();
        var b = Enumerable.Range(0, 32).Select(i => 10f - i).ToArray();

        var outputs = BareOnnx.RunFloat(path, ("INPUT0", a, [2, 16]), ("INPUT1", b, [2, 16]));

        Assert.Equal(a.Zip(b, (x, y) => x + y).ToArray(), outputs["OUTPUT0"].Values);
        Assert.Equal(a.Zip(b, (x, y) => x - y).ToArray(), outputs["OUTPUT1"].Values);
    }

    [Fact]
    public void WriteMatMul_Seeded_OutputsDenseLayerOfPublishedParameters()
    {
        const int inFeatures = 8, outFeatures = 5;
        var path = SampleModels.WriteMatMul(_dir.File("matmul.onnx"), inFeatures, outFeatures, seed: 7);
        var x = SampleModels.DeterministicValues(99, 3 * inFeatures, 1f);
        var (w, b) = SampleModels.MatMulParameters(inFeatures, outFeatures, seed: 7);

        var outputs = BareOnnx.RunFloat(path, ("INPUT0", x, [3, inFeatures]));

        var expected = new float[3 * outFeatures];
        for (var r = 0; r < 3; r++)
        for (var o = 0; o < outFeatures; o++)
        {
            var sum = 0d;
            for (var i = 0; i < inFeatures; i++)
            {
                sum += x[r * inFeatures + i] * w[i * outFeatures + o];
            }

            expected[r * outFeatures + o] = (float)(sum + b[o]);
        }

        Assert.Equal([3L, outFeatures], outputs["OUTPUT0"].Shape);
        AssertClose(expected, outputs["OUTPUT0"].Values, 1e-5f);
    }

    [Fact]
    public void MatMulParameters_DifferentSeeds_DifferentWeights()
    {
        var (w1, _) = SampleModels.MatMulParameters(4, 4, seed: 1);
        var (w2, _) = SampleModels.MatMulParameters(4, 4, seed: 2);
        var (w1Again, _) = SampleModels.MatMulParameters(4, 4, seed: 1);

        Assert.NotEqual(w1, w2);
        Assert.Equal(w1, w1Again);
    }

    [Fact]
    public void WriteSlow_TwoIterations_OutputsTanhMatMulChain()
    {
        const int iterations = 2;
        var path = SampleModels.WriteSlow(_dir.File("slow.onnx"), iterations);
        const int width = SampleModels.SlowInputWidth, hidden = SampleModels.SlowHiddenWidth;
        var x = SampleModels.DeterministicValues(5, width, 1f);

        var outputs = BareOnnx.RunFloat(path, ("INPUT0", x, [1, width]));

        // The same chain in C#, from the documented generator seeds (1: in, 2: hidden, 3: out).
        var wIn = SampleModels.DeterministicValues(1, width * hidden, 1f / MathF.Sqrt(width));
        var wHidden = SampleModels.DeterministicValues(2, hidden * hidden, MathF.Sqrt(6f / hidden));
        var wOut = SampleModels.DeterministicValues(3, hidden * width, 1f / MathF.Sqrt(hidden));
        var h = MatVec(x, wIn, width, hidden);
        for (var i = 0; i < iterations; i++)
        {
            h = MatVec(h, wHidden, hidden, hidden).Select(MathF.Tanh).ToArray();
        }

        var expected = MatVec(h, wOut, hidden, width);
        AssertClose(expected, outputs["OUTPUT0"].Values, 1e-4f);
    }

    [Fact]
    public void WriteSlow_ManyIterations_ActivationsKeepTheirSize()
    {
        // 300 layers: with the old 1/sqrt(n) hidden scale the output was exactly zero after passing through denormals.
        var path = SampleModels.WriteSlow(_dir.File("slow300.onnx"), iterations: 300);
        var x = Enumerable.Repeat(0.5f, 2 * SampleModels.SlowInputWidth).ToArray();

        var output = BareOnnx.RunFloat(path, ("INPUT0", x, [2, SampleModels.SlowInputWidth]))["OUTPUT0"].Values;

        var largest = output.Max(MathF.Abs);
        Assert.InRange(largest, 0.05f, 100f);
        Assert.DoesNotContain(output, static v => v != 0 && MathF.Abs(v) < 1e-30f);
    }

    [Fact]
    public void WriteNoBatch_FixedShape_AddsOneWithoutBatchDimension()
    {
        var path = SampleModels.WriteNoBatch(_dir.File("nobatch.onnx"));
        float[] x = [1f, 2f, 3f];

        var outputs = BareOnnx.RunFloat(path, ("INPUT0", x, [3]));

        Assert.Equal([2f, 3f, 4f], outputs["OUTPUT0"].Values);
        Assert.Equal([3L], outputs["OUTPUT0"].Shape);
    }

    [Fact]
    public void WriteAddOne_BoolType_Throws()
    {
        Assert.Throws<ArgumentException>(() => SampleModels.WriteAddOne(_dir.File("bad.onnx"), DataType.Bool));
    }

    private static float[] MatVec(float[] x, float[] w, int rows, int cols)
    {
        var y = new float[cols];
        for (var c = 0; c < cols; c++)
        {
            var sum = 0d;
            for (var r = 0; r < rows; r++)
            {
                sum += x[r] * w[r * cols + c];
            }

            y[c] = (float)sum;
        }

        return y;
    }

    internal static void AssertClose(float[] expected, float[] actual, float tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            var scale = Math.Max(1f, Math.Abs(expected[i]));
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * scale,
                $"Element {i}: expected {expected[i]}, got {actual[i]}.");
        }
    }
}
