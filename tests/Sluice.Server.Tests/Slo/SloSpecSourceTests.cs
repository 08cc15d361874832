using Sluice.Engine.Hosting;
using Sluice.Server.Slo;
using Sluice.Slo.Spec;

namespace Sluice.Server.Tests.Slo;

public sealed class SloSpecSourceTests
{
    [Fact]
    public void Load_NoSpecPath_TheBuiltInDefaultSpecWhateverTheRepository()
    {
        using var workspace = new SloWorkspace().WithAddOne("adder");

        var source = SloSpecSource.Load(null, new ModelRepositoryOptions { RepositoryPath = workspace.Repository });

        Assert.Equal(DefaultSloSpec.FileName, source.Source);
        Assert.Equal(["minilm-latency", "minilm-throughput", "minilm-process-memory", "minilm-gpu-memory", "tiny-llama-ttft", "tiny-llama-itl"],
            source.Slos.Select(s => s.Name));
    }

    [Fact]
    public void Load_SpecForModelsOfTheRepositoryAndTheDemo_Valid()
    {
        using var workspace = new SloWorkspace().WithAddOne("adder");
        var spec = workspace.WriteSpec("""
            slos:
              - {name: a, model: adder, objective: 99, window: 1d, sli: {availability: {}}}
              - {name: b, model: minilm, objective: 99, window: 1d, sli: {availability: {}}}
            """);

        var source = SloSpecSource.Load(spec, new ModelRepositoryOptions { RepositoryPath = workspace.Repository, WriteDemoModel = true });

        Assert.Equal(spec, source.Source);
        Assert.Equal(2, source.Slos.Count);
    }

    [Fact]
    public void Load_UnknownModelAndBadField_EveryErrorWithFileLineAndField()
    {
        using var workspace = new SloWorkspace().WithAddOne("adder");
        var spec = workspace.WriteSpec("""
            slos:
              - {name: a, model: ghost, objective: 99, window: 1d, sli: {availability: {}}}
              - name: b
                model: adder
                objective: 99
                window: 1fortnight
                sli: {availability: {}}
            """, "mine.yaml");

        var error = Assert.Throws<SloSpecException>(() => SloSpecSource.Load(spec, new ModelRepositoryOptions { RepositoryPath = workspace.Repository }));

        Assert.Equal(2, error.Errors.Count);
        Assert.All(error.Errors, e => Assert.Equal("mine.yaml", e.File));
        Assert.Contains(error.Errors, e => e.Line == 2 && e.Message.Contains("'ghost'"));
        Assert.Contains(error.Errors, e => e.Line == 6 && e.Field.Contains("window"));
    }

    [Fact]
    public void Load_MissingFile_AnErrorNamingTheOption()
    {
        var error = Assert.Throws<SloSpecException>(() => SloSpecSource.Load("/nonexistent/slo.yaml", new ModelRepositoryOptions { RepositoryPath = "/nonexistent" }));

        Assert.Equal("--slo-spec", Assert.Single(error.Errors).Field);
    }
}
