using Sluice.Core.Configuration;

namespace Sluice.Core.Tests.Configuration;

public sealed class VersionPolicyTests
{
    private static readonly long[] OnDisk = [1, 3, 2, 7];

    [Fact]
    public void Select_LatestTwo_TakesHighestVersions()
    {
        Assert.Equal([7L, 3L], VersionPolicy.Latest(2).Select(OnDisk));
    }

    [Fact]
    public void Select_All_TakesEveryVersionHighestFirst()
    {
        Assert.Equal([7L, 3L, 2L, 1L], VersionPolicy.All.Select(OnDisk));
    }

    [Fact]
    public void Select_SpecificWithAMissingVersion_TakesOnlyThosePresent()
    {
        Assert.Equal([2L, 1L], VersionPolicy.Specific([1, 2, 9]).Select(OnDisk));
    }
}
