using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Sluice.Server.Tests.Telemetry;

/// <summary>
/// A real Prometheus (the Debian package's <c>/usr/bin/prometheus</c>, installed by .ci/run) scraping one target every second,
/// its storage in a temporary folder, its API on a free loopback port. Fails (never skips) when Prometheus is missing.
/// </summary>
internal sealed class PrometheusServer : IAsyncDisposable
{
    private const string Binary = "/usr/bin/prometheus";

    private readonly Process _process;
    private readonly DirectoryInfo _folder;
    private readonly System.Text.StringBuilder _log = new();

    private PrometheusServer(Process process, DirectoryInfo folder, Uri api)
    {
        _process = process;
        _folder = folder;
        Api = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(30) };
    }

    public HttpClient Api { get; }

    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    /// <summary>Starts Prometheus scraping <paramref name="target"/> (host:port) at <c>/metrics</c> every second.</summary>
    public static async Task<PrometheusServer> StartAsync(string target)
    {
        Assert.True(File.Exists(Binary), $"{Binary} is missing: install the Debian package 'prometheus' (.ci/run does)");
        var folder = Directory.CreateTempSubdirectory("sluice-prometheus-");
        var config = Path.Combine(folder.FullName, "prometheus.yml");
        File.WriteAllText(config, $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: sluice
                scrape_interval: 1s
                scrape_timeout: 900ms
                metrics_path: /metrics
                static_configs:
                  - targets: ['{target}']
            """);
        var port = FreePort();
        var info = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[$"--config.file={config}", $"--storage.tsdb.path={Path.Combine(folder.FullName, "data")}",
                     $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info)!;
        var server = new PrometheusServer(process, folder, new Uri($"http://127.0.0.1:{port}/"));
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await server.WaitReadyAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return server;
    }

    /// <summary>Runs an instant PromQL query; the values of its result vector (empty when none).</summary>
    public async Task<IReadOnlyList<double>> QueryAsync(string promql)
    {
        using var response = await Api.GetAsync($"api/v1/query?query={Uri.EscapeDataString(promql)}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"query {promql} failed: {body}");
        using var json = JsonDocument.Parse(body);
        var values = new List<double>();
        foreach (var item in json.RootElement.GetProperty("data").GetProperty("result").EnumerateArray())
        {
            values.Add(double.Parse(item.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture));
        }

        return values;
    }

    /// <summary>Queries until the result is one value satisfying <paramref name="condition"/> (Prometheus scrapes every second).</summary>
    public async Task<double> QueryUntilAsync(string promql, Func<double, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        IReadOnlyList<double> last = [];
        while (DateTime.UtcNow < deadline)
        {
            last = await QueryAsync(promql);
            if (last.Count == 1 && condition(last[0]))
            {
                return last[0];
            }

            await Task.Delay(250);
        }

        using var targets = await Api.GetAsync("api/v1/targets");
        throw new Xunit.Sdk.XunitException(
            $"query {promql} never met its condition; last result [{string.Join(", ", last)}]; targets: {await targets.Content.ReadAsStringAsync()}; prometheus log:\n{Log}");
    }

    private async Task WaitReadyAsync()
    {
        while (true)
        {
            Assert.False(_process.HasExited, $"prometheus exited with {(_process.HasExited ? _process.ExitCode : 0)}:\n{Log}");
            try
            {
                using var response = await Api.GetAsync("-/ready");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(100);
        }
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_log) _log.AppendLine(line);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Api.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        _process.Dispose();
        try
        {
            _folder.Delete(recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }
}
