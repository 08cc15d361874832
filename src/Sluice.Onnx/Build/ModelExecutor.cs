using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Sluice.Core.Tensors;
using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Build;

/// <summary>One output of one run, as FP32 values (other numeric types converted) with its shape.</summary>
public sealed record OutputValues(string Name, long[] Shape, float[] Values);

/// <summary>
/// Runs a model file with ONNX Runtime on the CPU for the build: calibration, the accuracy gate and the benchmark. Inputs
/// are our own <see cref="TensorData"/>; outputs come back as FP32 arrays.
/// </summary>
public sealed class ModelExecutor : IDisposable
{
    private readonly InferenceSession _session;

    /// <param name="optimizationLevel">ONNX Runtime's graph optimization level for the session (disabled/basic/extended/all).</param>
    /// <param name="intraOpThreads">0 lets ONNX Runtime decide.</param>
    /// <param name="allowSpinning">False stops idle intra-op threads from spinning (<c>session.intra_op.allow_spinning=0</c>),
    /// which pays off when other processes share the cores.</param>
    public ModelExecutor(string modelPath, string optimizationLevel = "all", int intraOpThreads = 0, bool allowSpinning = true)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = OnnxSessionSettings.ParseOptimizationLevel(optimizationLevel) };
        if (intraOpThreads > 0)
        {
            options.IntraOpNumThreads = intraOpThreads;
        }

        if (!allowSpinning)
        {
            options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        }

        _session = new InferenceSession(modelPath, options);
        OutputNames = [.. _session.OutputNames];
    }

    /// <summary>The model's output names, in order.</summary>
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Runs one sample and returns the requested outputs (all when <paramref name="outputNames"/> is null).</summary>
    public IReadOnlyList<OutputValues> Run(IReadOnlyList<TensorData> inputs, IReadOnlyList<string>? outputNames = null)
    {
        var names = outputNames ?? OutputNames;
        var handles = new List<GCHandle>(inputs.Count);
        var values = new List<OrtValue>(inputs.Count);
        try
        {
            foreach (var input in inputs)
            {
                var bytes = input.Data.ToArray();
                var handle = GCHandle.Alloc(bytes, GCHandleType.Pinned);
                handles.Add(handle);
                values.Add(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, OnnxTypeMapping.ToElementType(input.DataType),
                    input.Shape, handle.AddrOfPinnedObject(), bytes.Length));
            }

            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), values, names.ToArray());
            var outputs = new List<OutputValues>(names.Count);
            for (var i = 0; i < names.Count; i++)
            {
                outputs.Add(new OutputValues(names[i], results[i].GetTensorTypeAndShape().Shape, ToFloats(results[i])));
            }

            return outputs;
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }

            foreach (var handle in handles)
            {
                handle.Free();
            }
        }
    }

    private static float[] ToFloats(OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        return info.ElementDataType switch
        {
            TensorElementType.Float => value.GetTensorDataAsSpan<float>().ToArray(),
            TensorElementType.Float16 => [.. value.GetTensorDataAsSpan<Float16>().ToArray().Select(h => (float)h)],
            TensorElementType.Double => [.. value.GetTensorDataAsSpan<double>().ToArray().Select(d => (float)d)],
            TensorElementType.Int64 => [.. value.GetTensorDataAsSpan<long>().ToArray().Select(v => (float)v)],
            TensorElementType.Int32 => [.. value.GetTensorDataAsSpan<int>().ToArray().Select(v => (float)v)],
            TensorElementType.Bool => [.. value.GetTensorDataAsSpan<bool>().ToArray().Select(v => v ? 1f : 0f)],
            _ => [],
        };
    }

    public void Dispose() => _session.Dispose();
}
