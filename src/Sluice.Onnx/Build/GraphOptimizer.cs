using Microsoft.ML.OnnxRuntime;
using Sluice.Onnx.Graph.Proto;
using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Build;

/// <summary>What an offline graph optimization did: node counts before and after and the fused operators it introduced.</summary>
public sealed record GraphOptimizationSummary(
    string Level,
    int NodesBefore,
    int NodesAfter,
    IReadOnlyDictionary<string, int> OpsBefore,
    IReadOnlyDictionary<string, int> OpsAfter,
    IReadOnlyDictionary<string, int> FusedOps);

/// <summary>
/// Runs ONNX Runtime's graph optimizer offline (<see cref="SessionOptions.OptimizedModelFilePath"/>) so serving starts
/// without re-optimizing, and reads the value types ONNX Runtime inferred.
/// </summary>
public static class GraphOptimizer
{
    /// <summary>The session config key that makes ONNX Runtime save the optimized model in its flatbuffer ORT format.</summary>
    private const string SaveModelFormatKey = "session.save_model_format";

    /// <summary>Optimizes <paramref name="inputPath"/> at <paramref name="level"/> (disabled/basic/extended/all) and writes the result.</summary>
    /// <param name="ortFormat">Write ONNX Runtime's ORT format instead of ONNX (loads faster, ONNX Runtime only).</param>
    public static GraphOptimizationSummary Optimize(string inputPath, string outputPath, string level, bool ortFormat = false)
    {
        var parsedLevel = OnnxSessionSettings.ParseOptimizationLevel(level);
        using (var options = new SessionOptions { GraphOptimizationLevel = parsedLevel, OptimizedModelFilePath = outputPath })
        {
            if (ortFormat)
            {
                options.AddSessionConfigEntry(SaveModelFormatKey, "ORT");
            }

            using var session = new InferenceSession(inputPath, options);
        }

        var before = OnnxModelFile.CountOps(OnnxModelFile.Read(inputPath));
        var after = ortFormat ? before : OnnxModelFile.CountOps(OnnxModelFile.Read(outputPath));
        return Summarize(level, before, after);
    }

    /// <summary>Compares two op histograms: operator types that appear (or grow) after optimization are the fused ones.</summary>
    public static GraphOptimizationSummary Summarize(string level, IReadOnlyDictionary<string, int> before, IReadOnlyDictionary<string, int> after)
    {
        var fused = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var (op, count) in after)
        {
            var grew = count - before.GetValueOrDefault(op);
            if (grew > 0)
            {
                fused[op] = grew;
            }
        }

        return new GraphOptimizationSummary(level.ToLowerInvariant(), before.Values.Sum(), after.Values.Sum(),
            new SortedDictionary<string, int>(before.ToDictionary(), StringComparer.Ordinal), new SortedDictionary<string, int>(after.ToDictionary(), StringComparer.Ordinal), fused);
    }
}
