using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Graph.Proto;
using Sluice.Onnx.Runtime;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Graph;

public sealed class OnnxGraphBuilderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Build_InputWithSymbolicAndFixedDims_WritesDimParamAndDimValue()
    {
        var model = new OnnxGraphBuilder("g")
            .Input("x", DataType.Fp32, ["batch", 4, "seq"])
            .Node("Identity", ["x"], ["y"])
            .Output("y", DataType.Fp32, ["batch", 4, "seq"])
            .Build();

        var dims = model.Graph.Input[0].Type.TensorType.Shape.Dim;
        Assert.Equal("batch", dims[0].DimParam);
        Assert.Equal(4L, dims[1].DimValue);
        Assert.Equal(TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam, dims[2].ValueCase);
        Assert.Equal((int)TensorProto.Types.DataType.Float, model.Graph.Input[0].Type.TensorType.ElemType);
    }

    [Fact]
    public void Build_Always_ImportsDefaultOpset17()
    {
        var model = new OnnxGraphBuilder("g").Build();

        var opset = Assert.Single(model.OpsetImport);
        Assert.Equal("", opset.Domain);
        Assert.Equal(17L, opset.Version);
        Assert.Equal(8L, model.IrVersion);
    }

    [Fact]
    public void Input_MinusOneDims_BecomeBatchThenNumberedSymbols()
    {
        var model = new OnnxGraphBuilder("g").Input("x", DataType.Int64, [-1, 2, -1]).Build();

        var dims = model.Graph.Input[0].Type.TensorType.Shape.Dim;
        Assert.Equal(["batch", "", "dim2"], dims.Select(d => d.DimParam));
        Assert.Equal(2L, dims[1].DimValue);
    }

    [Fact]
    public void Save_ThenParse_RoundTripsNodesAttributesAndInitializers()
    {
        var path = new OnnxGraphBuilder("g")
            .Input("x", DataType.Fp32, [2, 3])
            .Initializer("w", [1f, 2f, 3f], [3])
            .Initializer("shape", [3L, 2L], [2])
            .Node("Mul", ["x", "w"], ["xw"])
            .Node("Transpose", ["xw"], ["y"], OnnxGraphBuilder.Attribute("perm", [1L, 0L]))
            .Output("y", DataType.Fp32, [3, 2])
            .Save(_dir.File("nested/dir/model.onnx"));

        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));

        Assert.Equal(["Mul", "Transpose"], model.Graph.Node.Select(n => n.OpType));
        var perm = Assert.Single(model.Graph.Node[1].Attribute);
        Assert.Equal(AttributeProto.Types.AttributeType.Ints, perm.Type);
        Assert.Equal([1L, 0L], perm.Ints);
        Assert.Equal(12, model.Graph.Initializer[0].RawData.Length);
        Assert.Equal([3L], model.Graph.Initializer[0].Dims);
        Assert.Equal((int)TensorProto.Types.DataType.Int64, model.Graph.Initializer[1].DataType);
    }

    [Fact]
    public void Save_ModelWithAttributes_LoadsAndComputesInOnnxRuntime()
    {
        var path = new OnnxGraphBuilder("g")
            .Input("x", DataType.Fp32, [2, 3])
            .Node("Transpose", ["x"], ["t"], OnnxGraphBuilder.Attribute("perm", [1L, 0L]))
            .Node("LeakyRelu", ["t"], ["y"], OnnxGraphBuilder.Attribute("alpha", 0.5f))
            .Output("y", DataType.Fp32, [3, 2])
            .Save(_dir.File("model.onnx"));

        var outputs = BareOnnx.RunFloat(path, ("x", [1f, -2f, 3f, -4f, 5f, -6f], [2, 3]));

        // transpose of [[1,-2,3],[-4,5,-6]] is [[1,-4],[-2,5],[3,-6]]; negatives halved.
        Assert.Equal([1f, -2f, -1f, 5f, 3f, -3f], outputs["y"].Values);
    }

    [Fact]
    public void Tensor_RawDataOfWrongSize_ThrowsNamingConstant()
    {
        var error = Assert.Throws<ArgumentException>(() => OnnxGraphBuilder.Tensor("w", DataType.Fp32, new byte[7], [2]));

        Assert.Contains("'w'", error.Message);
        Assert.Contains("needs 8 bytes, got 7", error.Message);
    }

    [Fact]
    public void Parse_RealMiniLmFile_ReadsGraphInputsWithSymbolicDims()
    {
        var path = Sluice.Engine.Repository.DemoRepository.WriteMiniLm(_dir.Path);

        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));

        var input = model.Graph.Input.Single(i => i.Name == "input_ids");
        Assert.Equal((int)TensorProto.Types.DataType.Int64, input.Type.TensorType.ElemType);
        Assert.All(input.Type.TensorType.Shape.Dim, d => Assert.Equal(TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam, d.ValueCase));
        Assert.NotEmpty(model.Graph.Initializer);
        Assert.Contains(model.OpsetImport, o => o.Domain == "" && o.Version > 0);
    }

    public static TheoryData<DataType> AllTypes() =>
    [
        DataType.Bool, DataType.UInt8, DataType.UInt16, DataType.UInt32, DataType.UInt64, DataType.Int8, DataType.Int16,
        DataType.Int32, DataType.Int64, DataType.Fp16, DataType.Fp32, DataType.Fp64, DataType.Bf16, DataType.Bytes,
    ];

    [Theory]
    [MemberData(nameof(AllTypes))]
    public void OnnxDataTypes_EveryType_RoundTripsAndAgreesWithOnnxRuntime(DataType type)
    {
        var onnx = type.ToOnnx();

        Assert.True(OnnxDataTypes.TryFromOnnx((int)onnx, out var back));
        Assert.Equal(type, back);
        Assert.Equal((int)onnx, (int)OnnxTypeMapping.ToElementType(type));   // ONNX Runtime numbers element types as the format does
    }

    [Fact]
    public void OnnxDataTypes_Complex64_IsNotServed()
    {
        Assert.False(OnnxDataTypes.TryFromOnnx((int)TensorProto.Types.DataType.Complex64, out var type));
        Assert.Equal(DataType.Invalid, type);
    }
}
