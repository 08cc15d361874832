using Sluice.Bench.Workload;
using Sluice.Core.Tensors;

namespace Sluice.Bench.Tests.Workload;

public sealed class InputSynthesizerTests
{
    private static readonly InputSpec[] MiniLm =
    [
        new("input_ids", DataType.Int64, [-1, -1]),
        new("attention_mask", DataType.Int64, [-1, -1]),
        new("token_type_ids", DataType.Int64, [-1, -1]),
    ];

    [Fact]
    public void Synthesize_TokenModel_IdsInRangeMasksOnesTypesZeros()
    {
        var workload = InputSynthesizer.Synthesize(MiniLm, new SynthesisOptions { BatchSize = 4, SequenceLength = 16, TokenMin = 100, TokenMax = 200 });

        Assert.Equal(4, workload.InferencesPerRequest);
        Assert.All(workload.Inputs, t => Assert.Equal([4L, 16L], t.Shape));
        var ids = workload.Inputs[0].ToArray<long>();
        Assert.All(ids, id => Assert.InRange(id, 100, 199));
        Assert.True(ids.Distinct().Count() > 10, "ids are random, not constant");
        Assert.All(workload.Inputs[1].ToArray<long>(), v => Assert.Equal(1, v));
        Assert.All(workload.Inputs[2].ToArray<long>(), v => Assert.Equal(0, v));
        Assert.Equal(3 * 4 * 16 * 8, workload.InputBytes);
    }

    [Fact]
    public void Synthesize_FixedShapeFloats_KeepsShapeAndOneInference()
    {
        var workload = InputSynthesizer.Synthesize([new InputSpec("x", DataType.Fp32, [3, 5])], new SynthesisOptions { BatchSize = 8 });

        Assert.Equal(1, workload.InferencesPerRequest);
        Assert.Equal([3L, 5L], workload.Inputs[0].Shape);
        Assert.All(workload.Inputs[0].ToArray<float>(), v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void Synthesize_SameSeed_SameValues()
    {
        var a = InputSynthesizer.Synthesize(MiniLm, new SynthesisOptions { Seed = 5 });
        var b = InputSynthesizer.Synthesize(MiniLm, new SynthesisOptions { Seed = 5 });

        Assert.Equal(a.Inputs[0].ToArray<long>(), b.Inputs[0].ToArray<long>());
    }
}
