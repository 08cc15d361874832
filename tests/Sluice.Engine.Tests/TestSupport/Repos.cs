using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Sluice.Core.Runtime;
using Sluice.Core.Serving;
using Sluice.Engine.Hosting;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Runtime;

namespace Sluice.Engine.Tests.TestSupport;

/// <summary>Builds model repositories on disk and managers over them.</summary>
internal static class Repos
{
    public static string AddOneConfig(int maxBatch = 8, int delayUs = 0, int queue = 1024) => $$"""
        # Triton-style config
        name: "add_one"
        platform: "onnxruntime_onnx"
        max_batch_size: {{maxBatch}}
        input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
        output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
        dynamic_batching { max_queue_delay_microseconds: {{delayUs}} default_queue_policy { max_queue_size: {{queue}} } }
        instance_group [ { count: 1 kind: KIND_CPU } ]
        """;

    /// <summary>Writes a real AddOne ONNX model as <c>&lt;repo&gt;/&lt;name&gt;/&lt;version&gt;/model.onnx</c>, with an optional config.</summary>
    public static void WriteAddOne(string repo, string name, long version, string? pbtxt = null)
    {
        SampleModels.WriteAddOne(Path.Combine(repo, name, version.ToString(), "model.onnx"));
        if (pbtxt is not null)
        {
            File.WriteAllText(Path.Combine(repo, name, "config.pbtxt"), pbtxt);
        }
    }

    public static ModelManager Manager(
        string repo, ModelControlMode mode = ModelControlMode.None, IModelBackend? backend = null,
        TimeProvider? time = null, IList<string>? startup = null, bool allowHardwareMismatch = false) =>
        new(
            Options.Create(new ModelRepositoryOptions
            {
                RepositoryPath = repo,
                ControlMode = mode,
                StartupModels = startup ?? [],
                UnloadDrainTimeout = TimeSpan.FromSeconds(20),
                AllowHardwareMismatch = allowHardwareMismatch,
            }),
            backend ?? new OnnxModelBackend(),
            time ?? TimeProvider.System,
            NullLogger<ModelManager>.Instance);
}
