using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Sluice.Core.Tensors;
using Sluice.Onnx.Build;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Graph.Proto;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Build;

/// <summary>FP16 conversion, dynamic and QDQ INT8 on small graphs whose results are computed by hand.</summary>
public sealed class PrecisionConversionTests : IDisposable
{
    private const int In = 8, Out = 6;
    private readonly TempDirectory _dir = new();
    private readonly float[] _weights = SampleModels.DeterministicValues(seed: 3, In * Out, scale: 1f);
    private readonly float[] _bias = SampleModels.DeterministicValues(seed: 4, Out, scale: 0.5f);
    private readonly float[] _input = SampleModels.DeterministicValues(seed: 5, 2 * In, scale: 2f);

    [Fact]
    public void Fp16Convert_MatMulSoftmaxAdd_CastsOnlyAtBoundariesAndKeepsIoTypes()
    {
        var model = new OnnxGraphBuilder("fp16")
            .Input("x", DataType.Fp32, [-1, In])
            .Initializer("w", _weights, [In, Out])
            .Initializer("b", _bias, [Out])
            .Node("MatMul", ["x", "w"], ["h"])
            .Node("Softmax", ["h"], ["p"], OnnxGraphBuilder.Attribute("axis", -1L))
            .Node("Add", ["p", "b"], ["y"])
            .Output("y", DataType.Fp32, [-1, Out])
            .Build();

        var (fp16Nodes, casts) = Fp16Converter.Convert(model);

        Assert.Equal(2, fp16Nodes);   // MatMul, Add
        Assert.Equal(4, casts);       // x -> fp16, h -> fp32 (Softmax), p -> fp16 (Add), y -> fp32 (output)
        Assert.Equal(["Cast", "MatMul", "Cast", "Softmax", "Cast", "Add", "Cast"], model.Graph.Node.Select(n => n.OpType));
        Assert.Equal((int)TensorProto.Types.DataType.Float, model.Graph.Input[0].Type.TensorType.ElemType);
        Assert.Equal((int)TensorProto.Types.DataType.Float, model.Graph.Output[0].Type.TensorType.ElemType);
        Assert.All(model.Graph.Initializer, i => Assert.Equal((int)TensorProto.Types.DataType.Float16, i.DataType));

        var actual = Run(model, "y", Out);
        var expected = Reference(softmax: true);
        Graph.SampleModelsTests.AssertClose(expected, actual, 5e-3f);
    }

    [Fact]
    public void Fp16Convert_InitializerReadByFp16AndFp32Nodes_KeepsFp32CopyForTheFp32Reader()
    {
        var model = new OnnxGraphBuilder("shared")
            .Input("x", DataType.Fp32, [-1, Out])
            .Initializer("b", _bias, [Out])
            .Node("Add", ["x", "b"], ["a"])
            .Node("Softmax", ["b"], ["s"])
            .Node("Mul", ["a", "s"], ["y"])
            .Output("y", DataType.Fp32, [-1, Out])
            .Build();

        Fp16Converter.Convert(model);

        Assert.Contains(model.Graph.Initializer, i => i.Name == "b" && i.DataType == (int)TensorProto.Types.DataType.Float);
        Assert.Contains(model.Graph.Initializer, i => i.Name != "b" && i.DataType == (int)TensorProto.Types.DataType.Float16);
        var x = _input[..(2 * Out)];
        var softmax = Softmax(_bias);
        var expected = Enumerable.Range(0, 2 * Out).Select(i => (x[i] + _bias[i % Out]) * softmax[i % Out]).ToArray();
        Graph.SampleModelsTests.AssertClose(expected, Run(model, "y", Out, x, Out), 5e-3f);
    }

    [Fact]
    public void DynamicQuantize_MatMulWithBias_BecomesOneDynamicQuantizeMatMulWithinQuantizationError()
    {
        var model = MatMulAdd();

        var replaced = DynamicQuantizer.Quantize(model);

        Assert.Equal(1, replaced);
        var node = Assert.Single(model.Graph.Node);
        Assert.Equal(("com.microsoft", "DynamicQuantizeMatMul"), (node.Domain, node.OpType));
        Assert.Equal(5, node.Input.Count);   // A, B, B scale, B zero point, bias
        var weight = model.Graph.Initializer.Single(i => i.Name == node.Input[1]);
        Assert.Equal((int)TensorProto.Types.DataType.Int8, weight.DataType);
        Assert.Equal([(long)Out], model.Graph.Initializer.Single(i => i.Name == node.Input[2]).Dims);   // per-column scales

        Graph.SampleModelsTests.AssertClose(Reference(softmax: false), Run(model, "y", Out), 0.08f);
    }

    [Fact]
    public void QdqQuantize_WithMinMaxCalibration_RangesMatchDataAndOutputStaysClose()
    {
        var model = MatMulAdd();
        var samples = new List<InputSample> { new([TensorData.From("x", [2, In], _input.AsSpan())]) };

        var table = ActivationCalibrator.Calibrate(model, QdqQuantizer.ActivationTensors(model), samples, CalibrationMethod.MinMax, 99.999, _dir.Path);
        var quantized = QdqQuantizer.Quantize(model, table);

        var range = Assert.Single(table.Ranges);
        Assert.Equal("x", range.Key);
        Assert.Equal(Math.Min(0, _input.Min()), range.Value.Min);
        Assert.Equal(Math.Max(0, _input.Max()), range.Value.Max);
        Assert.Equal(1, quantized);
        var ops = OnnxModelFile.CountOps(model);
        Assert.Equal(1, ops["QuantizeLinear"]);
        Assert.Equal(2, ops["DequantizeLinear"]);   // activation and weight
        var matMul = model.Graph.Node.Single(n => n.OpType == "MatMul");
        Assert.All(matMul.Input, input => Assert.EndsWith("_dequantized", input));
        Graph.SampleModelsTests.AssertClose(Reference(softmax: false), Run(model, "y", Out), 0.1f);
    }

    [Fact]
    public void ActivationParameters_AsymmetricRange_MapsMinToZeroAndMaxTo255()
    {
        var (scale, zeroPoint) = QdqQuantizer.ActivationParameters(new TensorRange(-1f, 3f));

        Assert.Equal(4f / 255f, scale, 1e-7f);
        Assert.Equal(64, zeroPoint);   // round(1 / (4/255)) = round(63.75)
        Assert.Equal((1f, (byte)0), QdqQuantizer.ActivationParameters(new TensorRange(0f, 0f)));
    }

    [Fact]
    public void QuantizeMatrix_PerColumn_ScalesAreColumnAbsMaxOver127()
    {
        float[] weights = [1f, -4f, 0.5f, 2f];   // [[1, -4], [0.5, 2]]

        var (values, scales) = WeightQuantization.QuantizeMatrix(weights, 2, 2, perColumn: true);

        Assert.Equal([1f / 127, 4f / 127], scales);
        Assert.Equal([(sbyte)127, (sbyte)-127, (sbyte)64, (sbyte)64], values);
    }

    [Fact]
    public void PercentileThreshold_UniformHistogram_IsTheMatchingBin()
    {
        var histogram = Enumerable.Repeat(1L, ActivationCalibrator.Bins).ToArray();

        Assert.Equal(1024, ActivationCalibrator.PercentileThreshold(histogram, 50));
        Assert.Equal(ActivationCalibrator.Bins, ActivationCalibrator.PercentileThreshold(histogram, 100));
    }

    [Fact]
    public void EntropyThreshold_BulkWithRareFarOutliers_ClipsBelowTheOutliers()
    {
        // A half-normal bulk over the first ~400 bins, and a handful of values at the very top.
        var histogram = new long[ActivationCalibrator.Bins];
        for (var i = 0; i < 400; i++)
        {
            histogram[i] = (long)(100000 * Math.Exp(-0.5 * Math.Pow(i / 130.0, 2)));
        }

        histogram[^1] = 3;

        var threshold = ActivationCalibrator.EntropyThreshold(histogram);

        Assert.InRange(threshold, 128, 1500);
    }

    private ModelProto MatMulAdd() => new OnnxGraphBuilder("matmul_add")
        .Input("x", DataType.Fp32, [-1, In])
        .Initializer("w", _weights, [In, Out])
        .Initializer("b", _bias, [Out])
        .Node("MatMul", ["x", "w"], ["h"])
        .Node("Add", ["h", "b"], ["y"])
        .Output("y", DataType.Fp32, [-1, Out])
        .Build();

    private float[] Reference(bool softmax)
    {
        var result = new float[2 * Out];
        for (var r = 0; r < 2; r++)
        {
            var row = new float[Out];
            for (var o = 0; o < Out; o++)
            {
                for (var i = 0; i < In; i++)
                {
                    row[o] += _input[r * In + i] * _weights[i * Out + o];
                }
            }

            if (softmax)
            {
                row = Softmax(row);
            }

            for (var o = 0; o < Out; o++)
            {
                result[r * Out + o] = row[o] + _bias[o];
            }
        }

        return result;
    }

    private static float[] Softmax(float[] values)
    {
        var max = values.Max();
        var exp = values.Select(v => MathF.Exp(v - max)).ToArray();
        var sum = exp.Sum();
        return [.. exp.Select(e => e / sum)];
    }

    private float[] Run(ModelProto model, string output, int outWidth, float[]? input = null, int inWidth = In)
    {
        var path = _dir.File($"{Guid.NewGuid():N}.onnx");
        OnnxModelFile.Write(model, path);
        using var session = new InferenceSession(path);
        var x = input ?? _input;
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x, [x.Length / inWidth, inWidth]))], [output]);
        var values = results[0].AsEnumerable<float>().ToArray();
        Assert.Equal(x.Length / inWidth * outWidth, values.Length);
        return values;
    }

    public void Dispose() => _dir.Dispose();
}
