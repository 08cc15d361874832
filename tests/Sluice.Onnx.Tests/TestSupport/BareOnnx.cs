using Microsoft.ML.OnnxRuntime;

namespace Sluice.Onnx.Tests.TestSupport;

/// <summary>Runs a model with ONNX Runtime directly, without any Sluice code: the reference the runner is checked against.</summary>
public static class BareOnnx
{
    /// <summary>Runs <paramref name="modelPath"/> on FP32 inputs and returns every output as float[] with its shape.</summary>
    public static Dictionary<string, (float[] Values, long[] Shape)> RunFloat(string modelPath, params (string Name, float[] Values, long[] Shape)[] inputs)
    {
        using var session = new InferenceSession(modelPath);
        var values = inputs.Select(i => OrtValue.CreateTensorValueFromMemory(i.Values, i.Shape)).ToArray();
        try
        {
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), values, session.OutputNames);
            var result = new Dictionary<string, (float[], long[])>();
            var index = 0;
            foreach (var output in outputs)
            {
                result[session.OutputNames[index++]] = (output.GetTensorDataAsSpan<float>().ToArray(), output.GetTensorTypeAndShape().Shape);
            }

            return result;
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }
}
