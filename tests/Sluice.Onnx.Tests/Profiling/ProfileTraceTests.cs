using Sluice.Onnx.Profiling;

namespace Sluice.Onnx.Tests.Profiling;

/// <summary>Aggregation of ONNX Runtime's Chrome-trace profile, on a hand-written trace whose sums are computed here by hand.</summary>
public sealed class ProfileTraceTests
{
    // Two runs: the first (warm-up) ends at ts 1000; in the second, MatMul_1 takes 30 and 50 (two kernels of one node would be
    // unusual, it checks the per-node list), Add_2 takes 20; fences and non-node events are ignored.
    private const string Trace = """
        [
          {"cat":"Session","name":"model_run","ts":0,"dur":1000},
          {"cat":"Node","name":"MatMul_1_kernel_time","ts":10,"dur":900,"args":{"op_name":"MatMul"}},
          {"cat":"Session","name":"model_run","ts":2000,"dur":120},
          {"cat":"Node","name":"MatMul_1_fence_before","ts":2001,"dur":1,"args":{"op_name":"MatMul"}},
          {"cat":"Node","name":"MatMul_1_kernel_time","ts":2002,"dur":30,"args":{"op_name":"MatMul"}},
          {"cat":"Node","name":"MatMul_1_kernel_time","ts":2040,"dur":50,"args":{"op_name":"MatMul"}},
          {"cat":"Node","name":"Add_2_kernel_time","ts":2095,"dur":20,"args":{"op_name":"Add"}},
          {"cat":"Session","name":"SequentialExecutor::Execute","ts":2000,"dur":118}
        ]
        """;

    [Fact]
    public void Aggregate_SkipsWarmupRun_SumsPerNodeAndOpType()
    {
        var profile = ProfileTrace.Aggregate(Trace, skipRuns: 1);

        Assert.Equal(1, profile.Runs);
        Assert.Equal(120, profile.RunMeanMicroseconds);
        Assert.Equal(["MatMul_1", "Add_2"], profile.Nodes.Select(n => n.Name));
        var matMul = profile.Nodes[0];
        Assert.Equal(("MatMul", 2, 80.0, 40.0, 40.0), (matMul.OpType, matMul.Count, matMul.TotalMicroseconds, matMul.MeanMicroseconds, matMul.P50Microseconds));
        Assert.Equal(80.0 / 100, matMul.Share, 9);
        Assert.Equal(20.0 / 100, profile.OpTypes.Single(o => o.Name == "Add").Share, 9);
        Assert.Equal(100, profile.KernelMicrosecondsPerRun);
    }

    [Fact]
    public void Aggregate_NoSkip_CountsEveryRun()
    {
        var profile = ProfileTrace.Aggregate(Trace, skipRuns: 0);

        Assert.Equal(2, profile.Runs);
        Assert.Equal(980, profile.Nodes.Single(n => n.Name == "MatMul_1").TotalMicroseconds);
    }
}
