using Sluice.Bench.Calibration;

namespace Sluice.Bench.Tests.Calibration;

public sealed class CalibrationRecordTests
{
    [Fact]
    public void ToJson_ThenParse_RoundTripsEveryField()
    {
        var record = new CalibrationRecord(123.456, 8, 4, new DateTimeOffset(2026, 3, 1, 12, 30, 5, TimeSpan.Zero), "x64-16c-cpu-abc", "1.2.3");

        var back = CalibrationRecord.Parse(record.ToJson());

        Assert.Equal(record, back);
        Assert.Contains("\"measured_at\": \"2026-03-01T12:30:05Z\"", record.ToJson(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("..", "1")]
    [InlineData("m", "../x")]
    [InlineData("a/b", "1")]
    public void WriteTo_PathLikeNames_Refused(string model, string version)
    {
        var record = new CalibrationRecord(1, 1, 1, DateTimeOffset.UtcNow, "h", "v");

        Assert.Throws<ArgumentException>(() => record.WriteTo(Path.GetTempPath(), model, version));
    }
}
