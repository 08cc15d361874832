using System.Diagnostics;

namespace Sluice.Slo.Tests.TestSupport;

/// <summary>Runs the real promtool (Debian package <c>prometheus</c>). Missing promtool fails the test: CI installs it.</summary>
internal static class Promtool
{
    public static string Path
    {
        get
        {
            foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin"))
            {
                var candidate = System.IO.Path.Combine(directory, "promtool");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }

            Assert.Fail("promtool is not installed (apt-get install -y prometheus); the rule tests need the real one.");
            return "";
        }
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(Path)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        return (process.ExitCode, await stdout.WaitAsync(TimeSpan.FromSeconds(10)) + await stderr.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
