using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Tests.TestSupport;

/// <summary>A fact that runs only against the CPU-only ONNX Runtime package (the default build); skipped in a <c>-p:SluiceGpu=true</c> build.</summary>
public sealed class CpuOnlyBuildFactAttribute : FactAttribute
{
    public CpuOnlyBuildFactAttribute()
    {
        if (OnnxRuntimeInfo.HasCuda || OnnxRuntimeInfo.HasTensorRt)
        {
            Skip = "This build of ONNX Runtime has GPU execution providers.";
        }
    }
}
