using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Sluice.Engine.Repository;
using Sluice.Onnx.Build;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Build;

/// <summary>The real MiniLM model written once for the build tests, plus build options sized for a 2-core machine.</summary>
public sealed class MiniLmBuildFixture : IDisposable
{
    private readonly TempDirectory _dir = new();

    public MiniLmBuildFixture()
    {
        ModelPath = DemoRepository.WriteMiniLm(_dir.File("source"));
    }

    public string ModelPath { get; }

    /// <summary>A fresh repository folder per test, so versions never depend on test order.</summary>
    public string NewRepository() => _dir.File($"repo-{Guid.NewGuid():N}");

    /// <summary>Few, short samples: seq 16, batch 2, 4 calibration and 2 held-out samples.</summary>
    public EngineBuildOptions Options(EnginePrecision precision, string repository) => new()
    {
        ModelPath = ModelPath,
        RepositoryPath = repository,
        ModelName = "minilm",
        Precision = precision,
        SampleBatch = 2,
        SampleSequence = 16,
        CalibrationSamples = 4,
        GateSamples = 2,
    };

    public void Dispose() => _dir.Dispose();
}

/// <summary>Independent references: ONNX Runtime used directly, and plain cosine arithmetic.</summary>
internal static class Reference
{
    /// <summary>Runs MiniLM with a bare session and returns last_hidden_state.</summary>
    public static float[] LastHiddenState(string modelPath, long[] ids, int rows, int seq)
    {
        using var session = new InferenceSession(modelPath);
        var shape = new[] { rows, seq };
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, shape)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, ids.Length).ToArray(), shape)),
            NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[ids.Length], shape)),
        };
        using var results = session.Run(inputs, ["last_hidden_state"]);
        return results[0].AsEnumerable<float>().ToArray();
    }

    /// <summary>Cosine similarity of the sequence-mean of each row of two [rows, seq, 384] buffers; the smallest over rows.</summary>
    public static double MinPooledCosine(float[] x, float[] y, int rows, int seq)
    {
        const int dim = 384;
        var worst = 1.0;
        for (var r = 0; r < rows; r++)
        {
            var a = new double[dim];
            var b = new double[dim];
            for (var s = 0; s < seq; s++)
            {
                for (var d = 0; d < dim; d++)
                {
                    a[d] += x[(r * seq + s) * dim + d];
                    b[d] += y[(r * seq + s) * dim + d];
                }
            }

            var dot = a.Zip(b, (p, q) => p * q).Sum();
            worst = Math.Min(worst, dot / Math.Sqrt(a.Sum(v => v * v) * b.Sum(v => v * v)));
        }

        return worst;
    }
}
