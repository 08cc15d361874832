using Google.Protobuf;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Server.Grpc.Protocol;

namespace Sluice.Server.Grpc;

/// <summary>Turns an <see cref="InferenceResponse"/> into the wire <see cref="ModelInferResponse"/>.</summary>
/// <remarks>
/// Outputs go back in <c>raw_output_contents</c>, one entry per output in the order of <c>outputs</c>, as Triton answers: it
/// is the one form every datatype (FP16 and BF16 included) has, and it costs one copy instead of a per-element conversion.
/// </remarks>
internal static class ModelInferResponseEncoder
{
    public static ModelInferResponse Encode(InferenceResponse response)
    {
        var message = new ModelInferResponse
        {
            ModelName = response.ModelName,
            ModelVersion = response.ModelVersion,
            Id = response.Id,
        };

        foreach (var output in response.Outputs)
        {
            var tensor = new ModelInferResponse.Types.InferOutputTensor
            {
                Name = output.Name,
                Datatype = output.DataType.ToKServeName(),
            };
            tensor.Shape.Add(output.Shape);
            message.Outputs.Add(tensor);
            message.RawOutputContents.Add(ToByteString(output.Data));
        }

        return message;
    }

    /// <summary>Wraps an output's bytes without copying.</summary>
    /// <remarks>Safe because <see cref="TensorData"/> is immutable by convention: nobody writes its memory once it exists, and
    /// the ByteString only reads it while the response is serialized.</remarks>
    private static ByteString ToByteString(ReadOnlyMemory<byte> data) => UnsafeByteOperations.UnsafeWrap(data);
}
