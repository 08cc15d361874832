using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;
using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Profiling;

/// <summary>
/// Runs ONNX Runtime's profiler on a session of its own (never a serving one): loads the model with profiling on, runs the
/// given inputs, ends profiling and aggregates the trace per node and operator type. The trace file is deleted afterwards.
/// </summary>
public static class OnnxLayerProfiler
{
    /// <summary>Profiles <paramref name="runs"/> runs after <paramref name="warmupRuns"/> unmeasured ones, cycling through <paramref name="inputSets"/>.</summary>
    /// <exception cref="InferenceException"><see cref="InferenceError.InvalidInput"/> for inputs the profiler cannot bind (BYTES);
    /// <see cref="InferenceError.LoadFailed"/> when the session cannot be created.</exception>
    public static LayerProfile Profile(
        string modelPath, ExecutionConfig execution, string executionProvider, IReadOnlyList<IReadOnlyList<TensorData>> inputSets,
        int runs, int warmupRuns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(inputSets);
        ArgumentOutOfRangeException.ThrowIfZero(inputSets.Count);
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(warmupRuns);

        var folder = Directory.CreateTempSubdirectory("sluice-profile-");
        try
        {
            var settings = OnnxSessionSettings.From(execution, new RunnerPlacement(executionProvider, 0, 0));
            using var options = settings.CreateSessionOptions();
            options.EnableProfiling = true;
            options.ProfileOutputPathPrefix = Path.Combine(folder.FullName, "profile");
            string tracePath;
            using (var session = new InferenceSession(modelPath, options))
            {
                var outputNames = session.OutputMetadata.Keys.ToArray();
                using var runOptions = new RunOptions();
                using var terminate = cancellationToken.Register(static state => ((RunOptions)state!).Terminate = true, runOptions);
                for (var i = 0; i < warmupRuns + runs; i++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    RunOnce(session, runOptions, inputSets[i % inputSets.Count], outputNames);
                }

                tracePath = session.EndProfiling();
            }

            var path = Path.IsPathRooted(tracePath) ? tracePath : Path.Combine(Environment.CurrentDirectory, tracePath);
            var profile = ProfileTrace.Aggregate(File.ReadAllText(path), skipRuns: warmupRuns);
            File.Delete(path);
            return profile;
        }
        catch (OnnxRuntimeException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new InferenceException(InferenceError.RuntimeFailure, $"profiling failed: {OnnxErrors.Describe(e)}", e);
        }
        finally
        {
            try
            {
                folder.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A leftover temp folder is harmless.
            }
        }
    }

    private static void RunOnce(InferenceSession session, RunOptions runOptions, IReadOnlyList<TensorData> inputs, string[] outputNames)
    {
        var handles = new MemoryHandle[inputs.Count];
        var values = new OrtValue[inputs.Count];
        var names = new string[inputs.Count];
        try
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                var input = inputs[i];
                if (input.DataType == DataType.Bytes)
                {
                    throw new InferenceException(InferenceError.InvalidInput, $"inputs: '{input.Name}' is BYTES; the profiler binds numeric tensors only");
                }

                names[i] = input.Name;
                handles[i] = input.Data.Pin();
                unsafe
                {
                    values[i] = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, OnnxTypeMapping.ToElementType(input.DataType),
                        input.Shape, (nint)handles[i].Pointer, input.Data.Length);
                }
            }

            using var outputs = session.Run(runOptions, names, values, outputNames);
        }
        finally
        {
            foreach (var value in values)
            {
                value?.Dispose();
            }

            foreach (var handle in handles)
            {
                handle.Dispose();
            }
        }
    }
}
