using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;

namespace Sluice.Onnx.Runtime;

/// <summary>The ONNX Runtime backend: reads model signatures and creates one <see cref="OnnxModelRunner"/> (one session) per instance.</summary>
public sealed class OnnxModelBackend : IModelBackend
{
    /// <summary>The backend name in configs.</summary>
    public const string BackendName = "onnxruntime";

    /// <summary>The Triton platform string.</summary>
    public const string PlatformName = "onnxruntime_onnx";

    private readonly ILogger _logger;

    public OnnxModelBackend(ILogger<OnnxModelBackend>? logger = null)
    {
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public string Name => BackendName;

    /// <inheritdoc />
    public string Platform => PlatformName;

    /// <inheritdoc />
    /// <remarks>Loads the file in a throwaway CPU session with graph optimizations off; the signature does not depend on the provider.</remarks>
    public ModelSignature ReadSignature(string modelPath, ExecutionConfig execution)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        var fileName = Path.GetFileName(modelPath);
        EnsureFileExists(modelPath);
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL, IntraOpNumThreads = 1 };
        using var session = OpenSession(modelPath, options);
        var signature = OnnxSignatureReader.Read(session, fileName);
        _logger.SignatureRead(fileName, signature.Inputs.Count, signature.Outputs.Count);
        return signature;
    }

    /// <inheritdoc />
    public IModelRunner CreateRunner(ModelConfig config, string modelPath, RunnerPlacement placement)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        ArgumentNullException.ThrowIfNull(placement);
        var started = Stopwatch.GetTimestamp();
        string providerName = placement.ExecutionProvider;
        try
        {
            var settings = OnnxSessionSettings.From(config.Execution, placement);
            providerName = settings.ProviderDisplayName;
            EnsureFileExists(modelPath);
            var runner = OnnxModelRunner.Load(modelPath, settings, config.Name, placement.InstanceIndex, _logger);
            _logger.RunnerCreated(config.Name, placement.InstanceIndex, providerName, placement.DeviceId,
                Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return runner;
        }
        catch (InferenceException e)
        {
            _logger.RunnerLoadFailed(config.Name, placement.InstanceIndex, providerName, e.Message);
            throw;
        }
    }

    /// <summary>Opens a session, turning ONNX Runtime's load failure into <see cref="InferenceError.LoadFailed"/> without the path.</summary>
    internal static InferenceSession OpenSession(string modelPath, SessionOptions options)
    {
        try
        {
            return new InferenceSession(modelPath, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InferenceException(InferenceError.LoadFailed,
                $"Model file '{Path.GetFileName(modelPath)}' could not be loaded: {OnnxErrors.Describe(e, modelPath)}", e);
        }
    }

    private static void EnsureFileExists(string modelPath)
    {
        if (!File.Exists(modelPath))
        {
            throw new InferenceException(InferenceError.LoadFailed, $"Model file '{Path.GetFileName(modelPath)}' does not exist.");
        }
    }
}
