using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;

namespace Sluice.Server.Tests.TestSupport;

/// <summary>A temporary model repository of small real ONNX models (and optionally the demo MiniLM), deleted on dispose.</summary>
internal sealed class TestRepository : IDisposable
{
    public TestRepository()
    {
        Path = Directory.CreateTempSubdirectory("sluice-http-").FullName;
    }

    public string Path { get; }

    /// <summary><c>add_one</c>: FP32 INPUT0 [-1,4] → OUTPUT0 = INPUT0 + 1, no config file (auto-completed).</summary>
    public TestRepository WithAddOne(string name = "add_one", DataType type = DataType.Fp32)
    {
        SampleModels.WriteAddOne(ModelFile(name), type);
        return this;
    }

    /// <summary>Triton's "simple" model with a Triton-style <c>config.pbtxt</c>, served unchanged.</summary>
    public TestRepository WithTritonAddSub(string name = "simple")
    {
        WriteTritonAddSub(Path, name);
        return this;
    }

    /// <summary>Writes <see cref="WithTritonAddSub"/>'s model and config (with one <c>model_warmup</c> sample) into <paramref name="repository"/>.</summary>
    public static void WriteTritonAddSub(string repository, string name)
    {
        SampleModels.WriteAddSub(System.IO.Path.Combine(repository, name, "1", "model.onnx"));
        File.WriteAllText(System.IO.Path.Combine(repository, name, "config.pbtxt"), $$"""
            name: "{{name}}"
            platform: "onnxruntime_onnx"
            max_batch_size: 8
            input [
              {
                name: "INPUT0"
                data_type: TYPE_FP32
                dims: [ 16 ]
              },
              {
                name: "INPUT1"
                data_type: TYPE_FP32
                dims: [ 16 ]
              }
            ]
            output [
              {
                name: "OUTPUT0"
                data_type: TYPE_FP32
                dims: [ 16 ]
              },
              {
                name: "OUTPUT1"
                data_type: TYPE_FP32
                dims: [ 16 ]
              }
            ]
            dynamic_batching {
              preferred_batch_size: [ 4 ]
              max_queue_delay_microseconds: 500
            }
            instance_group [ { count: 1, kind: KIND_CPU } ]
            model_warmup [
              { name: "zeros and noise" batch_size: 2 count: 1
                inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 16 ] zero_data: true } }
                inputs { key: "INPUT1" value { data_type: TYPE_FP32 dims: [ 16 ] random_data: true } } }
            ]
            """);
    }

    /// <summary>An identity model of <paramref name="type"/> with dims [-1, 2].</summary>
    public TestRepository WithIdentity(string name, DataType type)
    {
        SampleModels.WriteIdentity(ModelFile(name), type, [-1, 2]);
        return this;
    }

    /// <summary>
    /// <see cref="SampleModels.WriteSlow"/>; with <paramref name="intraOpThreads"/> a <c>config.pbtxt</c> limits ONNX Runtime to
    /// that many threads, leaving the rest of a small machine to the test and the HTTP edge while the model runs, and lets
    /// a request carry up to <paramref name="maxBatchSize"/> rows.
    /// </summary>
    public TestRepository WithSlow(string name = "slow", int iterations = 200, int? intraOpThreads = null, int maxBatchSize = 32)
    {
        SampleModels.WriteSlow(ModelFile(name), iterations);
        if (intraOpThreads is { } threads)
        {
            File.WriteAllText(System.IO.Path.Combine(Path, name, "config.pbtxt"), $$"""
                name: "{{name}}"
                platform: "onnxruntime_onnx"
                max_batch_size: {{maxBatchSize}}
                parameters { key: "intra_op_thread_count" value { string_value: "{{threads}}" } }
                """);
        }

        return this;
    }

    public TestRepository WithMiniLm()
    {
        Sluice.Engine.Repository.DemoRepository.WriteMiniLm(Path);
        return this;
    }

    /// <summary>The demo decoder <c>tiny-llama</c> (2-layer random-weight Llama, GPT-2 vocabulary), optionally with config overrides.</summary>
    /// <param name="configure">Edits the text of its config.yaml (e.g. lower <c>max_waiting</c> for overload tests).</param>
    public TestRepository WithTinyLlama(Func<string, string>? configure = null)
    {
        Sluice.Engine.Repository.DemoRepository.WriteTinyLlama(Path);
        if (configure is not null)
        {
            var config = System.IO.Path.Combine(Path, Sluice.Engine.Repository.DemoRepository.DecoderModelName, "config.yaml");
            File.WriteAllText(config, configure(File.ReadAllText(config)));
        }

        return this;
    }

    private string ModelFile(string name) => System.IO.Path.Combine(Path, name, "1", "model.onnx");

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // a model file still mapped by a session that is being disposed; the temp folder is cleaned later
        }
    }
}
