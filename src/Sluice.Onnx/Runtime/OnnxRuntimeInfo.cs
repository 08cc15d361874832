using Microsoft.ML.OnnxRuntime;

namespace Sluice.Onnx.Runtime;

/// <summary>What this process's ONNX Runtime is: its version and execution providers, for logs, <c>--help</c> and the CLI.</summary>
public static class OnnxRuntimeInfo
{
    private static readonly Lazy<string> s_version = new(() => OrtEnv.Instance().GetVersionString());
    private static readonly Lazy<IReadOnlyList<string>> s_providers = new(() => OrtEnv.Instance().GetAvailableProviders());

    /// <summary>True when built with <c>-p:SluiceGpu=true</c> (the CUDA package of ONNX Runtime).</summary>
    public static bool IsGpuBuild =>
#if SLUICE_GPU
        true;
#else
        false;
#endif

    /// <summary>The native ONNX Runtime version, e.g. <c>1.31.1</c>.</summary>
    public static string Version => s_version.Value;

    /// <summary>The execution providers compiled into this build, e.g. <c>CPUExecutionProvider</c>.</summary>
    public static IReadOnlyList<string> AvailableProviders => s_providers.Value;

    /// <summary>True when the CUDA execution provider is in this build (it may still fail to start without a GPU).</summary>
    public static bool HasCuda => AvailableProviders.Contains(OnnxSessionSettings.CudaProviderName);

    /// <summary>True when the TensorRT execution provider is in this build.</summary>
    public static bool HasTensorRt => AvailableProviders.Contains(OnnxSessionSettings.TensorRtProviderName);

    /// <summary>One line for logs and <c>--help</c>, e.g. <c>ONNX Runtime 1.31.1 (CPU package); providers: CPUExecutionProvider</c>.</summary>
    public static string Describe() =>
        $"ONNX Runtime {Version} ({(IsGpuBuild ? "GPU" : "CPU")} package); providers: {string.Join(", ", AvailableProviders)}";
}
