using Sluice.Server.Slo;

namespace Sluice.Server.Tests.Slo;

public sealed class CalibrationFileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sluice-calibration-").FullName;

    [Fact]
    public void ReadPeak_PeakField_TheValue()
    {
        var path = Write("""{"model":"minilm","peak_inferences_per_second":812.5,"batch_size":32}""");

        Assert.Equal(812.5, CalibrationFile.ReadPeak(path, out var problem));
        Assert.Null(problem);
    }

    [Theory]
    [InlineData("""{"peak":10}""", "peak_inferences_per_second")]
    [InlineData("""{"peak_inferences_per_second":0}""", "positive")]
    [InlineData("""{"peak_inferences_per_second":"fast"}""", "positive")]
    [InlineData("""not json""", "JSON")]
    public void ReadPeak_NoUsablePeak_NullWithTheReason(string json, string reason)
    {
        var path = Write(json);

        Assert.Null(CalibrationFile.ReadPeak(path, out var problem));
        Assert.Contains(reason, problem);
    }

    [Fact]
    public void ReadPeak_MissingFile_NullWithTheReason()
    {
        Assert.Null(CalibrationFile.ReadPeak(Path.Combine(_folder, "none.json"), out var problem));
        Assert.NotNull(problem);
    }

    private string Write(string json)
    {
        var path = Path.Combine(_folder, $"{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
