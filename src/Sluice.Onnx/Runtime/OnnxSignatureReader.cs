using Microsoft.ML.OnnxRuntime;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;

namespace Sluice.Onnx.Runtime;

/// <summary>Reads a loaded session's inputs and outputs as our <see cref="TensorConfig"/>s.</summary>
internal static class OnnxSignatureReader
{
    /// <summary>The session's signature, dims in full with -1 for symbolic or unknown dims.</summary>
    /// <exception cref="InferenceException"><see cref="InferenceError.LoadFailed"/> for a non-tensor input or output, or an element type Sluice does not serve.</exception>
    public static ModelSignature Read(InferenceSession session, string modelFileName) =>
        new(ReadAll(session.InputNames, session.InputMetadata, "input", modelFileName),
            ReadAll(session.OutputNames, session.OutputMetadata, "output", modelFileName));

    private static TensorConfig[] ReadAll(IReadOnlyList<string> names, IReadOnlyDictionary<string, NodeMetadata> metadata, string kind, string modelFileName)
    {
        var result = new TensorConfig[names.Count];
        for (var i = 0; i < names.Count; i++)
        {
            result[i] = ReadOne(names[i], metadata[names[i]], kind, modelFileName);
        }

        return result;
    }

    private static TensorConfig ReadOne(string name, NodeMetadata metadata, string kind, string modelFileName)
    {
        if (!metadata.IsTensor)
        {
            throw new InferenceException(InferenceError.LoadFailed,
                $"Model file '{modelFileName}': {kind} '{name}' is a {metadata.OnnxValueType}, not a tensor; only tensor inputs and outputs are served.");
        }

        var type = OnnxTypeMapping.ToDataType(metadata.ElementDataType);
        if (type == DataType.Invalid)
        {
            throw new InferenceException(InferenceError.LoadFailed,
                $"Model file '{modelFileName}': {kind} '{name}' has element type {metadata.ElementDataType}, which Sluice does not serve.");
        }

        var dims = metadata.Dimensions;
        var result = new long[dims.Length];
        for (var d = 0; d < dims.Length; d++)
        {
            result[d] = dims[d] < 0 ? -1 : dims[d];
        }

        return new TensorConfig(name, type, result);
    }
}
