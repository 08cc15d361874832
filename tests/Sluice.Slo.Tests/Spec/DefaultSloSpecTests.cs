using Sluice.Slo.Spec;

namespace Sluice.Slo.Tests.Spec;

public sealed class DefaultSloSpecTests
{
    [Fact]
    public void ReadYaml_EmbeddedResource_IsExamplesSloYaml()
    {
        Assert.Equal(File.ReadAllText(ExampleSpecTests.ExamplePath), DefaultSloSpec.ReadYaml());
    }

    [Fact]
    public void Load_BuiltIn_ValidWithoutAKnownModelList()
    {
        var set = DefaultSloSpec.Load();

        Assert.True(set.IsValid, string.Join("\n", set.Errors));
        Assert.Contains(set.Slos, s => s.Sli is LatencySli);
        Assert.Contains(set.Slos, s => s.Sli is ThroughputSli);
        Assert.Contains(set.Slos, s => s.Sli is ResourceSli);
        Assert.Contains(set.Slos, s => s.Sli is TtftSli);
        Assert.Contains(set.Slos, s => s.Sli is ItlSli);
    }
}
