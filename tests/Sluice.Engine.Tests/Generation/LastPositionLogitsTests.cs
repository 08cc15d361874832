using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Sluice.Engine.Repository;
using Sluice.Onnx.Build;
using Sluice.Onnx.Graph;

namespace Sluice.Engine.Tests.Generation;

/// <summary>
/// The decoder rewrite that computes logits for each row's last position only, checked against the unmodified tiny-llama in
/// ONNX Runtime: same last-position logits, same keys and values, on a batch with a past and several new tokens.
/// </summary>
public sealed class LastPositionLogitsTests : IDisposable
{
    private const int Layers = 2;
    private const int KvHeads = 2;
    private const int HeadDim = 16;
    private const int Vocab = 50257;
    private readonly string _root = Directory.CreateTempSubdirectory("sluice-lastpos-").FullName;
    private readonly string _modelPath;

    public LastPositionLogitsTests()
    {
        DemoRepository.WriteTinyLlama(_root);
        _modelPath = Directory.GetFiles(Path.Combine(_root, TinyLlama.Name), "model.onnx", SearchOption.AllDirectories).Single();
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void The_rewritten_model_gives_the_last_positions_logits_and_the_same_cache()
    {
        using var rewritten = LastPositionLogits.TryWrite(_modelPath, out var reason);
        Assert.True(rewritten is not null, reason);

        const int batch = 2, past = 3, fresh = 5;
        var original = Run(_modelPath, batch, past, fresh);
        var sliced = Run(rewritten.Path, batch, past, fresh);

        Assert.Equal([batch, fresh, Vocab], original["logits"].Shape);
        Assert.Equal([batch, 1, Vocab], sliced["logits"].Shape);
        for (var b = 0; b < batch; b++)
        {
            var expected = original["logits"].Values.AsSpan(((b * fresh) + fresh - 1) * Vocab, Vocab);
            var actual = sliced["logits"].Values.AsSpan(b * Vocab, Vocab);
            var worst = 0f;
            for (var v = 0; v < Vocab; v++)
            {
                worst = Math.Max(worst, Math.Abs(expected[v] - actual[v]));
            }

            Assert.True(worst < 1e-4f, $"row {b}: largest difference {worst}");
        }

        foreach (var name in original.Keys.Where(k => k.StartsWith("present.", StringComparison.Ordinal)))
        {
            Assert.Equal(original[name].Shape, sliced[name].Shape);
            Assert.Equal(original[name].Values, sliced[name].Values);
        }
    }

    [Fact]
    public void The_copy_is_deleted_on_dispose_and_the_original_is_untouched()
    {
        var before = File.ReadAllBytes(_modelPath);
        string path;
        using (var rewritten = LastPositionLogits.TryWrite(_modelPath, out _))
        {
            Assert.NotNull(rewritten);
            path = rewritten.Path;
            Assert.True(File.Exists(path));
            Assert.Equal(Path.GetFileName(_modelPath), Path.GetFileName(path));
            Assert.NotEqual(Path.GetDirectoryName(_modelPath), Path.GetDirectoryName(path));
        }

        Assert.False(Directory.Exists(Path.GetDirectoryName(path)));
        Assert.Equal(before, File.ReadAllBytes(_modelPath));
    }

    [Fact]
    public void A_graph_whose_logits_do_not_come_from_a_MatMul_is_left_alone_with_the_reason()
    {
        var model = OnnxModelFile.Read(_modelPath);
        var projection = model.Graph.Node.Single(n => n.Output.Contains("logits"));
        projection.Output[0] = "raw_logits";
        var identity = new Sluice.Onnx.Graph.Proto.NodeProto { Name = "identity", OpType = "Identity" };
        identity.Input.Add("raw_logits");
        identity.Output.Add("logits");
        model.Graph.Node.Add(identity);
        var before = model.ToByteArray();

        var reason = LastPositionLogits.TryApply(model);

        Assert.Equal("'logits' comes from Identity, not MatMul", reason);
        Assert.Equal(before, model.ToByteArray());
    }

    [Fact]
    public void A_graph_without_logits_is_refused_by_name()
    {
        var model = OnnxModelFile.Read(_modelPath);
        model.Graph.Output.Remove(model.Graph.Output.Single(o => o.Name == "logits"));

        Assert.Equal("the graph has no output 'logits'", LastPositionLogits.TryApply(model));
    }

    [Fact]
    public void A_file_that_does_not_parse_gives_a_reason_instead_of_an_exception()
    {
        var broken = Path.Combine(_root, "broken.onnx");
        File.WriteAllBytes(broken, [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);

        Assert.Null(LastPositionLogits.TryWrite(broken, out var reason));
        Assert.StartsWith("the copy could not be made", reason, StringComparison.Ordinal);
    }

    private static Dictionary<string, (float[] Values, long[] Shape)> Run(string modelPath, int batch, int past, int fresh)
    {
        var total = past + fresh;
        var random = new Random(11);
        var ids = Enumerable.Range(0, batch * fresh).Select(_ => (long)random.Next(Vocab)).ToArray();
        var positions = Enumerable.Range(0, batch * fresh).Select(i => (long)(past + (i % fresh))).ToArray();
        var mask = Enumerable.Repeat(1L, batch * total).ToArray();
        var values = new List<(string Name, OrtValue Value)>
        {
            ("input_ids", OrtValue.CreateTensorValueFromMemory(ids, [batch, fresh])),
            ("attention_mask", OrtValue.CreateTensorValueFromMemory(mask, [batch, total])),
            ("position_ids", OrtValue.CreateTensorValueFromMemory(positions, [batch, fresh])),
        };
        for (var layer = 0; layer < Layers; layer++)
        {
            foreach (var kv in new[] { "key", "value" })
            {
                var cache = Enumerable.Range(0, batch * KvHeads * past * HeadDim).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
                values.Add(($"past_key_values.{layer}.{kv}", OrtValue.CreateTensorValueFromMemory(cache, [batch, KvHeads, past, HeadDim])));
            }
        }

        try
        {
            using var session = new InferenceSession(modelPath);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, values.Select(v => v.Name).ToArray(), values.Select(v => v.Value).ToArray(), session.OutputNames);
            return session.OutputNames.Zip(outputs).ToDictionary(
                p => p.First,
                p => (p.Second.GetTensorDataAsSpan<float>().ToArray(), p.Second.GetTensorTypeAndShape().Shape));
        }
        finally
        {
            foreach (var (_, value) in values)
            {
                value.Dispose();
            }
        }
    }
}
