using Sluice.Engine.Repository;
using Sluice.Engine.Tests.TestSupport;

namespace Sluice.Engine.Tests.Repository;

public sealed class ModelPathsTests
{
    [Theory]
    [InlineData("../x")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData("/etc/passwd")]
    [InlineData("%2e%2e%2f")]
    [InlineData("%2E%2E%2Fx")]
    [InlineData("%252e%252e%252f")]
    [InlineData("x%2fy")]
    [InlineData("a\0b")]
    [InlineData("a\nb")]
    [InlineData("")]
    [InlineData("c:x")]
    [InlineData("~root")]
    public void CheckModelName_Unsafe_ReturnsProblem(string name)
    {
        var problem = ModelPaths.CheckModelName(name);

        Assert.NotNull(problem);
        Assert.StartsWith("model name", problem);
    }

    [Theory]
    [InlineData("minilm")]
    [InlineData("my-model_v2.onnx")]
    [InlineData("100%")]
    public void CheckModelName_Safe_ReturnsNull(string name)
    {
        Assert.Null(ModelPaths.CheckModelName(name));
    }

    [Theory]
    [InlineData("1", true, 1)]
    [InlineData("0042", true, 42)]
    [InlineData("-1", false, 0)]
    [InlineData("+1", false, 0)]
    [InlineData("1.0", false, 0)]
    [InlineData("..", false, 0)]
    [InlineData("1234567890123456789", false, 0)]
    [InlineData("", false, 0)]
    public void TryParseVersion_Table(string text, bool ok, long version)
    {
        Assert.Equal(ok, ModelPaths.TryParseVersion(text, out var parsed));
        Assert.Equal(version, parsed);
    }

    [Fact]
    public void VersionDirectory_SymlinkOutsideRepository_IsRefused()
    {
        using var repo = new TempDirectory();
        using var outside = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(repo.Path, "m"));
        Directory.CreateSymbolicLink(Path.Combine(repo.Path, "m", "1"), outside.Path);
        Directory.CreateDirectory(Path.Combine(repo.Path, "m", "2"));
        var paths = new ModelPaths(repo.Path);

        Assert.Throws<ArgumentException>(() => paths.VersionDirectory("m", 1));
        Assert.EndsWith(Path.Combine("m", "2"), paths.VersionDirectory("m", 2));
    }

    [Fact]
    public void VersionDirectory_SymlinkInsideRepository_IsAllowed()
    {
        using var repo = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(repo.Path, "m", "1"));
        Directory.CreateSymbolicLink(Path.Combine(repo.Path, "m", "2"), Path.Combine(repo.Path, "m", "1"));
        var paths = new ModelPaths(repo.Path);

        Assert.True(paths.IsInside(paths.VersionDirectory("m", 2)));
    }

    [Fact]
    public void ModelFile_FileSymlinkOutside_IsRefused()
    {
        using var repo = new TempDirectory();
        using var outside = new TempDirectory();
        var secret = Path.Combine(outside.Path, "secret.onnx");
        File.WriteAllText(secret, "x");
        Directory.CreateDirectory(Path.Combine(repo.Path, "m", "1"));
        File.CreateSymbolicLink(Path.Combine(repo.Path, "m", "1", "model.onnx"), secret);
        var paths = new ModelPaths(repo.Path);

        Assert.Throws<ArgumentException>(() => paths.ModelFile("m", 1, "model.onnx"));
        Assert.Throws<ArgumentException>(() => paths.ModelFile("m", 1, "../1/model.onnx"));
    }

    [Fact]
    public void ModelDirectory_UnsafeName_Throws()
    {
        using var repo = new TempDirectory();
        var paths = new ModelPaths(repo.Path);

        Assert.Throws<ArgumentException>(() => paths.ModelDirectory("../x"));
        Assert.Throws<ArgumentException>(() => paths.ModelDirectory("%2e%2e%2fx"));
    }
}
