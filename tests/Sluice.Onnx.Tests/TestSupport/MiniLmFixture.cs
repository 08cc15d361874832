using Microsoft.ML.OnnxRuntime;
using Sluice.Engine.Repository;
using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Tests.TestSupport;

/// <summary>The real all-MiniLM-L6-v2 model written by the demo repository, one runner and one bare session on it, shared by a test class.</summary>
public sealed class MiniLmFixture : IDisposable
{
    private readonly TempDirectory _dir = new();

    public MiniLmFixture()
    {
        ModelPath = DemoRepository.WriteMiniLm(_dir.Path);
        Runner = Runners.Create(ModelPath);
        BareSession = new InferenceSession(ModelPath);
    }

    public string ModelPath { get; }

    public OnnxModelRunner Runner { get; }

    /// <summary>ONNX Runtime used directly, with default options: the reference.</summary>
    public InferenceSession BareSession { get; }

    /// <summary>Token ids shaped like a tokenizer's: [CLS], <paramref name="sequenceLength"/> - 2 ids, [SEP], from a seeded generator.</summary>
    public static long[] TokenIds(int rows, int sequenceLength, int seed)
    {
        var random = new Random(seed);
        var ids = new long[rows * sequenceLength];
        for (var r = 0; r < rows; r++)
        {
            ids[r * sequenceLength] = 101;
            for (var s = 1; s < sequenceLength - 1; s++)
            {
                ids[r * sequenceLength + s] = random.Next(1000, 30000);
            }

            ids[r * sequenceLength + sequenceLength - 1] = 102;
        }

        return ids;
    }

    public void Dispose()
    {
        BareSession.Dispose();
        Runner.Dispose();
        _dir.Dispose();
    }
}
