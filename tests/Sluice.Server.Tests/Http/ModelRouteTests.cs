using Sluice.Server.Http;

namespace Sluice.Server.Tests.Http;

public sealed class ModelRouteTests
{
    [Theory]
    [InlineData("minilm")]
    [InlineData("my.model-v2_final")]
    [InlineData("模型")]
    public void IsValidName_OrdinaryNames_Accepted(string name)
    {
        Assert.True(ModelRoute.IsValidName(name, out var error), error);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData(".", "'..'")]
    [InlineData("..", "'..'")]
    [InlineData("a..b", "'..'")]
    [InlineData("../etc", "'..'")]
    [InlineData("a/b", "'/'")]
    [InlineData("/etc/passwd", "'/'")]
    [InlineData("a\\b", "'/'")]
    [InlineData("a%2fb", "'/'")]
    [InlineData("a\0b", "NUL")]
    [InlineData("a\nb", "control")]
    [InlineData("C:model", "':'")]
    [InlineData(" padded", "whitespace")]
    public void IsValidName_UnsafeNames_RejectedNamingModelName(string name, string expected)
    {
        Assert.False(ModelRoute.IsValidName(name, out var error));
        Assert.Contains("model_name", error);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void IsValidName_TooLong_Rejected()
    {
        Assert.False(ModelRoute.IsValidName(new string('a', ModelRoute.MaxNameLength + 1), out var error));
        Assert.Contains("longer than", error);
    }
}
