using System.Runtime.InteropServices;
using Sluice.Core.Configuration;
using Sluice.Core.Tensors;
using Sluice.Engine.Configuration;
using Sluice.Engine.Repository;
using Sluice.Engine.Tests.TestSupport;

namespace Sluice.Engine.Tests.Configuration;

/// <summary>Triton's <c>model_warmup</c>: parsed from both config formats, validated against the model, run on every instance at load.</summary>
public sealed class ModelWarmupTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);

    private const string Pbtxt = """
        name: "add_one"
        max_batch_size: 8
        input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
        output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
        model_warmup [
          { name: "one" batch_size: 1 count: 2 inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } },
          { name: "eight" batch_size: 8 count: 3 inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] random_data: true } } }
        ]
        """;

    [Fact]
    public void Parse_PbtxtWarmup_MapsSamplesWithTheirInputs()
    {
        var config = ModelConfigFile.Parse(Pbtxt, "add_one", "add_one/config.pbtxt").Config;

        Assert.Equal(2, config.ModelWarmup.Count);
        var (one, eight) = (config.ModelWarmup[0], config.ModelWarmup[1]);
        Assert.Equal(("one", 1, 2), (one.Name, one.BatchSize, one.Count));
        Assert.Equal(("eight", 8, 3), (eight.Name, eight.BatchSize, eight.Count));
        var input = Assert.Single(eight.Inputs);
        Assert.Equal(("INPUT0", DataType.Fp32, true), (input.Name, input.DataType, input.RandomData));
        Assert.Equal([4L], input.Dims);
        Assert.False(Assert.Single(one.Inputs).RandomData);
    }

    [Fact]
    public void Parse_YamlWarmup_SameAsPbtxt()
    {
        const string yaml = """
            max_batch_size: 32
            input:
              - { name: input_ids, data_type: INT64, dims: [-1] }
            output:
              - { name: pooler_output, data_type: FP32, dims: [768] }
            model_warmup:
              - name: batch 32
                batch_size: 32
                count: 4
                inputs: { input_ids: { data_type: INT64, dims: [128], zero_data: true } }
            """;

        var sample = Assert.Single(ModelConfigFile.Parse(yaml, "bert", "bert/config.yaml").Config.ModelWarmup);

        Assert.Equal(("batch 32", 32, 4), (sample.Name, sample.BatchSize, sample.Count));
        var input = Assert.Single(sample.Inputs);
        Assert.Equal(("input_ids", DataType.Int64, false), (input.Name, input.DataType, input.RandomData));
        Assert.Equal([128L], input.Dims);
    }

    [Fact]
    public void Parse_InputDataFile_IsRefusedNamingTheField()
    {
        const string yaml = """
            max_batch_size: 4
            model_warmup:
              - { name: w, batch_size: 1, inputs: { INPUT0: { data_type: FP32, dims: [4], input_data_file: raw } } }
            """;

        var error = Assert.Throws<ModelConfigException>(() => ModelConfigFile.Parse(yaml, "m", "m/config.yaml"));

        Assert.Contains("model_warmup[0].inputs['INPUT0'].input_data_file", error.Message);
    }

    [Fact]
    public void Validate_SampleThatDoesNotFitTheModel_ListsEveryProblem()
    {
        var config = new ModelConfig
        {
            Name = "m",
            MaxBatchSize = 8,
            Inputs = [new TensorConfig("INPUT0", DataType.Fp32, [-1, 4]), new TensorConfig("MASK", DataType.Int64, [-1])],
            Outputs = [new TensorConfig("OUTPUT0", DataType.Fp32, [4])],
            ModelWarmup =
            [
                new WarmupSample("w", 16, 1,
                [
                    new WarmupInput("INPUT0", DataType.Fp16, [-1, 4], false),
                    new WarmupInput("TYPO", DataType.Fp32, [4], false),
                ]),
            ],
        };

        var error = Assert.Throws<ModelConfigException>(() => new ModelConfigValidation(ModelConfigValidation.Default).Validate(config, "m/config.yaml"));

        Assert.Contains("model_warmup[0]'.batch_size: must be from 1 to max_batch_size (8), got 16", error.Message);
        Assert.Contains("inputs['INPUT0'].data_type: the input is TYPE_FP32, got TYPE_FP16", error.Message);
        Assert.Contains("inputs['INPUT0'].dims: need 2 fixed dims matching [-1, 4], got [-1, 4]", error.Message);
        Assert.Contains("inputs['TYPO']: the model has no such input", error.Message);
        Assert.Contains("input 'MASK' is missing", error.Message);
    }

    [Fact]
    public async Task WarmUp_Samples_RunEachCountTimesWithTheirShapesAndData()
    {
        var config = ModelConfigFile.Parse(Pbtxt, "add_one", "add_one/config.pbtxt").Config;
        var runner = new FakeRunner();

        await ModelVersionLoader.WarmUpAsync(runner, config, CancellationToken.None);

        var calls = runner.Calls.ToArray();
        Assert.Equal(5, calls.Length);
        Assert.All(calls[..2], c => Assert.Equal([1L, 4L], c[0].Shape));
        Assert.All(calls[..2], c => Assert.All(MemoryMarshal.Cast<byte, float>(c[0].Data.Span).ToArray(), v => Assert.Equal(0f, v)));
        Assert.All(calls[2..], c => Assert.Equal([8L, 4L], c[0].Shape));
        var random = MemoryMarshal.Cast<byte, float>(calls[2][0].Data.Span).ToArray();
        Assert.All(random, v => Assert.InRange(v, 0f, 1f));
        Assert.True(random.Distinct().Count() > 16, "random_data gives varied values");
    }

    [Fact]
    public async Task Load_WithWarmup_ServesAndABadSampleKeepsTheModelUnavailableNamingTheField()
    {
        using var repo = new TempDirectory();
        Repos.WriteAddOne(repo.Path, "add_one", 1, Pbtxt);
        Repos.WriteAddOne(repo.Path, "bad", 1, Pbtxt.Replace("add_one", "bad").Replace("key: \"INPUT0\" value { data_type: TYPE_FP32 dims: [ 4 ] random", "key: \"INPUT0\" value { data_type: TYPE_FP32 dims: [ 5 ] random"));
        await using var manager = Repos.Manager(repo.Path);

        await manager.LoadInitialModelsAsync(CancellationToken.None).WaitAsync(Safety);

        Assert.True(manager.IsModelReady("add_one", null));
        var bad = Assert.Single(manager.GetIndex(readyOnly: false), e => e.Name == "bad");
        Assert.Equal("UNAVAILABLE", bad.State);
        Assert.Contains("model_warmup[1]'.inputs['INPUT0'].dims", bad.Reason);
    }
}
