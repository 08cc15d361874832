using Sluice.Bench.Load;

namespace Sluice.Bench.Tests.Load;

public sealed class LoadSweepTests
{
    public static TheoryData<string, double[]> Valid => new()
    {
        { "8", [8] },
        { "1:64:x2", [1, 2, 4, 8, 16, 32, 64] },
        { "1:10:x3", [1, 3, 9] },
        { "10:40:+10", [10, 20, 30, 40] },
        { "10:40:10", [10, 20, 30, 40] },
        { "1:4", [1, 2, 3, 4] },
        { "8,1,2", [1, 2, 8] },
        { "2.5", [2.5] },
        { "1:2, 4:8:x2", [1, 2, 4, 8] },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidSweep_ExpandsToAscendingLevels(string text, double[] expected)
    {
        var ok = LoadSweep.TryParse(text, out var levels, out var error);

        Assert.True(ok, error);
        Assert.Equal(expected, levels);
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("0", "positive")]
    [InlineData("-4", "positive")]
    [InlineData("abc", "positive")]
    [InlineData("8:4", "at least the start")]
    [InlineData("1:64:x1", "factor")]
    [InlineData("1:64:+0", "step")]
    [InlineData("1:2:3:4", "range")]
    [InlineData("1:100000:+1", "more than")]
    public void TryParse_InvalidSweep_ExplainsWhy(string text, string fragment)
    {
        var ok = LoadSweep.TryParse(text, out _, out var error);

        Assert.False(ok);
        Assert.Contains(fragment, error, StringComparison.Ordinal);
    }
}
