using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Sluice.Onnx.Build;
using Sluice.Server.Tests.TestSupport;

namespace Sluice.Server.Tests.Build;

/// <summary>Engines written by <c>sluice build</c> (FP16, INT8) load and serve through the real server, close to the FP32 source.</summary>
public sealed class BuiltEngineServingTests
{
    private const int Seq = 12;

    public static TheoryData<EnginePrecision, double> Precisions => new()
    {
        { EnginePrecision.Fp16, 0.999 },
        { EnginePrecision.Int8Dynamic, 0.98 },
        { EnginePrecision.Int8Qdq, 0.98 },
    };

    [Theory]
    [MemberData(nameof(Precisions))]
    public async Task Infer_EngineBuiltAtPrecision_ServesOutputsCloseToTheSource(EnginePrecision precision, double minCosine)
    {
        using var repository = new TestRepository();
        var source = Sluice.Engine.Repository.DemoRepository.WriteMiniLm(repository.Path + ".source");
        var build = EngineBuilder.Build(new EngineBuildOptions
        {
            ModelPath = source,
            RepositoryPath = repository.Path,
            ModelName = "minilm",
            Precision = precision,
            SampleBatch = 2,
            SampleSequence = 16,
            CalibrationSamples = 4,
            GateSamples = 2,
        });
        Assert.True(build.Passed, build.Report.Failure);
        await using var server = await SluiceServer.StartAsync(repository, models: ["minilm"]);

        long[] ids = [101, 7592, 2088, 2003, 1037, 3231, 1997, 1996, 2291, 2640, 1012, 102];
        var body = new
        {
            inputs = new object[]
            {
                new { name = "input_ids", datatype = "INT64", shape = new[] { 1, Seq }, data = ids },
                new { name = "attention_mask", datatype = "INT64", shape = new[] { 1, Seq }, data = Enumerable.Repeat(1L, Seq) },
                new { name = "token_type_ids", datatype = "INT64", shape = new[] { 1, Seq }, data = new long[Seq] },
            },
            outputs = new[] { new { name = "last_hidden_state" } },
        };
        using var response = await server.Client.PostAsJsonAsync("v2/models/minilm/infer", body).WaitAsync(TimeSpan.FromSeconds(30));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        using var json = JsonDocument.Parse(text);
        var output = json.RootElement.GetProperty("outputs")[0];
        var served = output.GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        using var index = await server.Client.PostAsync("v2/repository/index", null);
        Assert.Contains("\"READY\"", await index.Content.ReadAsStringAsync());

        var expected = SourceLastHiddenState(source, ids);
        Assert.Equal(expected.Length, served.Length);
        Assert.True(MeanPooledCosine(expected, served) >= minCosine, $"cosine {MeanPooledCosine(expected, served)}");
    }

    private static float[] SourceLastHiddenState(string modelPath, long[] ids)
    {
        using var session = new InferenceSession(modelPath);
        long[] shape = [1, ids.Length];
        using var inputIds = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, ids.Length).ToArray(), shape);
        using var types = OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["input_ids", "attention_mask", "token_type_ids"], [inputIds, mask, types], ["last_hidden_state"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static double MeanPooledCosine(float[] a, float[] b)
    {
        const int Hidden = 384;
        var pa = new double[Hidden];
        var pb = new double[Hidden];
        for (var i = 0; i < a.Length; i++)
        {
            pa[i % Hidden] += a[i];
            pb[i % Hidden] += b[i];
        }

        double dot = 0, na = 0, nb = 0;
        for (var h = 0; h < Hidden; h++)
        {
            dot += pa[h] * pb[h];
            na += pa[h] * pa[h];
            nb += pb[h] * pb[h];
        }

        return dot / Math.Sqrt(na * nb);
    }
}
