using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Sluice.Benchmarks.Shared;

/// <summary>What every benchmark program needs to run the real <c>sluice serve</c> beside it: ports, the child process, readiness.</summary>
internal static class BenchHost
{
    /// <summary>A loopback port that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Starts <c>dotnet sluice.dll serve</c> (the CLI copied next to the benchmark) with <paramref name="serveArguments"/>. Its
    /// stderr goes to ours with a <c>[server]</c> prefix; its stdout too when <c>BENCH_VERBOSE=1</c>.
    /// </summary>
    public static Process StartSluice(params string[] serveArguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sluice.dll"));
        info.ArgumentList.Add("serve");
        foreach (var argument in serveArguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info)!;
        var verbose = Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1";
        process.OutputDataReceived += (_, e) => { if (verbose && e.Data is { } line) Console.Error.WriteLine("[server] " + line); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) Console.Error.WriteLine("[server] " + line); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Polls <paramref name="url"/> until it answers 2xx; fails when <paramref name="server"/> exits or <paramref name="timeout"/> passes.</summary>
    public static async Task WaitForAsync(string url, TimeSpan timeout, Process? server = null)
    {
        using var http = new HttpClient();
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < timeout)
        {
            if (server is { HasExited: true })
            {
                throw new InvalidOperationException($"sluice serve exited with {server.ExitCode} before {url} answered");
            }

            try
            {
                using var response = await http.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{url} did not answer within {timeout.TotalSeconds:F0} s");
    }

    /// <summary>The CPU's model name from /proc/cpuinfo, for the machine line of a report.</summary>
    public static string CpuName() =>
        File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
            : "unknown CPU";
}
