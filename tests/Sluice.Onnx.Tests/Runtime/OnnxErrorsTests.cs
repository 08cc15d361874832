using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Tests.Runtime;

public sealed class OnnxErrorsTests
{
    [Theory]
    [InlineData("[ErrorCode:InvalidProtobuf] Load model from /tmp/x/y/model.onnx failed:Protobuf parsing failed.",
        "Load model from model.onnx failed:Protobuf parsing failed.")]
    [InlineData("Non-zero status code returned while running Add node. Name:'Add_0' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/math/element_wise_ops.h:560 void onnxruntime::BroadcastIterator::Append bad",
        "Non-zero status code returned while running Add node. Name:'Add_0' Status Message: element_wise_ops.h:560 void onnxruntime::BroadcastIterator::Append bad")]
    [InlineData(@"failed to open C:\models\m\1\model.onnx now", "failed to open model.onnx now")]
    [InlineData("shape [1,4] and ratio 1/2 stay", "shape [1,4] and ratio 1/2 stay")]
    public void Sanitize_MessageWithPaths_KeepsOnlyFileNames(string message, string expected)
    {
        Assert.Equal(expected, OnnxErrors.Sanitize(message));
    }

    [Fact]
    public void Sanitize_RelativeModelPath_ReplacedByFileName()
    {
        var message = OnnxErrors.Sanitize("Load model from repo/m/1/model.onnx failed", "repo/m/1/model.onnx");

        Assert.Equal("Load model from model.onnx failed", message);
    }
}
