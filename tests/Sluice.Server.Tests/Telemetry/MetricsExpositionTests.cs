using System.Net;
using Sluice.Server.Tests.TestSupport;

namespace Sluice.Server.Tests.Telemetry;

/// <summary>The exposition on the metrics port: Triton's exact names and labels, our histograms, and nothing else on that port.</summary>
public sealed class MetricsExpositionTests
{
    private const string AddOneRequest = """{"inputs":[{"name":"INPUT0","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""";

    [Fact]
    public async Task Scrape_AfterRequests_ExposesTritonNamesExactly()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "add_one");
        for (var i = 0; i < 3; i++)
        {
            using var ok = await server.Client.PostAsync("v2/models/add_one/infer", KServeHttp.Json(AddOneRequest));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var bad = await server.Client.PostAsync("v2/models/add_one/infer", KServeHttp.Json("""{"inputs":[{"name":"NOPE","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"""));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        // Observers are told after the response is written (and batches after their requests complete): wait until all is in.
        var scraped = await server.ScrapeUntilAsync(
            s => s.Find("nv_inference_request_failure", ("reason", "OTHER")).Any(x => x.Value == 1) && s.Find("nv_inference_count").Any(x => x.Value == 3),
            "the invalid request and the third batch counted");

        (string, string)[] model = [("model", "add_one"), ("version", "1")];
        Assert.Equal(3, scraped.Value("nv_inference_request_success", model));
        Assert.Equal(1, scraped.Value("nv_inference_request_failure", [.. model, ("reason", "OTHER")]));
        Assert.Equal(0, scraped.Value("nv_inference_request_failure", [.. model, ("reason", "REJECTED")]));
        Assert.Equal(3, scraped.Value("nv_inference_count", model));
        Assert.Equal(3, scraped.Value("nv_inference_exec_count", model));
        Assert.Equal(0, scraped.Value("nv_inference_pending_request_count", model));
        foreach (var name in (string[])["nv_inference_request_duration_us", "nv_inference_queue_duration_us", "nv_inference_compute_input_duration_us",
                     "nv_inference_compute_infer_duration_us", "nv_inference_compute_output_duration_us"])
        {
            Assert.True(scraped.Value(name, model) >= 0);
            Assert.Equal("counter", scraped.Types[name]);
        }

        Assert.True(scraped.Value("nv_inference_request_duration_us", model) > 0);
        Assert.Equal("counter", scraped.Types["nv_inference_request_success"]);
        Assert.Equal("gauge", scraped.Types["nv_inference_pending_request_count"]);

        // Labels exactly model and version (plus reason for failures): nothing the exporter added.
        Assert.All(scraped.Find("nv_inference_request_success"), s => Assert.Equal(["model", "version"], s.Labels.Keys.Order()));
        Assert.All(scraped.Find("nv_inference_request_failure"), s => Assert.Equal(["model", "reason", "version"], s.Labels.Keys.Order()));

        // Host gauges from /proc; no suffix added.
        Assert.True(scraped.Value("nv_cpu_memory_total_bytes") > 0);
        Assert.True(scraped.Value("nv_cpu_memory_used_bytes") > 0);
        Assert.InRange(scraped.Value("nv_cpu_utilization"), 0, 1);
        Assert.True(scraped.Value("sluice_process_working_set_bytes") > 0);
        Assert.True(scraped.Value("sluice_process_managed_heap_bytes") > 0);
        Assert.Equal("counter", scraped.Types["sluice_process_gc_pause_seconds_total"]);
        Assert.True(scraped.Value("sluice_process_gc_pause_seconds_total") >= 0);
        Assert.Equal(["0", "1", "2"], scraped.Find("sluice_process_gc_collections_total").Select(s => s.Labels["generation"]).Order());
        Assert.True(scraped.Value("sluice_process_threadpool_threads") > 0);

        // Histograms in seconds, one observation per successful request.
        foreach (var histogram in (string[])["sluice_request_duration_seconds", "sluice_request_queue_duration_seconds",
                     "sluice_request_compute_input_duration_seconds", "sluice_request_compute_infer_duration_seconds", "sluice_request_compute_output_duration_seconds"])
        {
            Assert.Equal("histogram", scraped.Types[histogram]);
            Assert.Equal(3, scraped.Value(histogram + "_count", model));
            Assert.Equal(3, scraped.Value(histogram + "_bucket", [.. model, ("le", "+Inf")]));
            Assert.Single(scraped.Find(histogram + "_bucket", [.. model, ("le", "0.05")]));   // the default SLO threshold is a boundary
        }

        Assert.Equal(3, scraped.Value("sluice_batch_size_count", model));
        Assert.Equal(1, scraped.Value("sluice_batch_average_size", model));
        Assert.Equal(0, scraped.Value("sluice_queue_depth", model));
        Assert.Equal(0, scraped.Value("sluice_inflight_requests", model));
        Assert.Empty(scraped.Find("sluice_queue_expected_wait_seconds"));   // requests one at a time: no batch ran under backlog
        Assert.Equal("counter", scraped.Types["sluice_batch_preferred_hits_total"]);

        // No calibration file: no peak series (absent, never invented). No NVML here: no GPU series.
        Assert.Empty(scraped.Find("sluice_model_peak_inferences_per_second"));
        if (!File.Exists("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"))
        {
            Assert.DoesNotContain(scraped.Samples, s => s.Name.StartsWith("nv_gpu_", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Scrape_AfterABatchUnderBacklog_ExposesTheExpectedQueueWait()
    {
        // Batches of at most 2 rows, ~20 ms a row: of 10 requests at once, the first runs alone and the next leaves rows behind.
        using var repository = new TestRepository().WithSlow("slow", iterations: 300, intraOpThreads: 1, maxBatchSize: 2);
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "slow");
        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ =>
            server.Client.PostAsync("v2/models/slow/infer", KServeHttp.Json(Hosting.SluiceApplicationTests.SlowRequest(rows: 1)))));
        Assert.All(responses, static r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        var scraped = await server.ScrapeUntilAsync(
            s => s.Find("sluice_queue_expected_wait_seconds").Any(), "a batch that ran under backlog taught the estimate");

        Assert.Equal("gauge", scraped.Types["sluice_queue_expected_wait_seconds"]);
        Assert.Equal(0, scraped.Value("sluice_queue_expected_wait_seconds", [("model", "slow"), ("version", "1")]));   // queue empty now
    }

    [Fact]
    public async Task Scrape_SloMeter_ExposedWithTotalSuffix()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "add_one");

        var scraped = await server.ScrapeAsync();

        // Every meter named Sluice* is exported; the SLO engine's counters appear under their Prometheus contract names.
        var events = scraped.Samples.Where(s => s.Name == "sluice_slo_events_total").ToList();
        Assert.NotEmpty(events);
        Assert.All(events, s => Assert.Equal(["outcome", "slo"], s.Labels.Keys.Order()));
        Assert.Equal("counter", scraped.Types["sluice_slo_events_total"]);
        Assert.DoesNotContain(scraped.Samples, s => s.Name == "sluice_slo_events");
    }

    [Fact]
    public async Task Scrape_CalibrationFile_ExposesPeakWithHardware()
    {
        using var repository = new TestRepository().WithAddOne();
        File.WriteAllText(Path.Combine(repository.Path, "add_one", "1", "calibration.json"),
            """{"peak_inferences_per_second": 1234.5, "hardware": "cpu-test-fingerprint", "batch_size": 8}""");
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "add_one");

        var scraped = await server.ScrapeAsync();

        Assert.Equal(1234.5, scraped.Value("sluice_model_peak_inferences_per_second",
            ("hardware", "cpu-test-fingerprint"), ("model", "add_one"), ("version", "1")));
    }

    [Fact]
    public async Task MetricsPort_OtherPaths_NotFoundAndMetricsNotOnHttpPort()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "add_one");

        using var kserveOnMetrics = await server.MetricsClient.GetAsync("v2/health/live");
        using var metricsOnHttp = await server.Client.GetAsync("metrics");

        Assert.Equal(HttpStatusCode.NotFound, kserveOnMetrics.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, metricsOnHttp.StatusCode);
    }

    [Fact]
    public async Task Telemetry_Disabled_NoMetricsListener()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await TelemetryServer.StartAsync(repository.Path, configure: o => o.EnableTelemetry = false, models: "add_one");

        using var ok = await server.Client.PostAsync("v2/models/add_one/infer", KServeHttp.Json(AddOneRequest));

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Null(server.Addresses.Metrics);
    }

    [Fact]
    public async Task Scrape_OpenMetricsAccepted_StillClassicTextWithTritonNames()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "add_one");
        using var request = new HttpRequestMessage(HttpMethod.Get, "metrics");
        request.Headers.TryAddWithoutValidation("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");

        using var response = await server.MetricsClient.SendAsync(request);

        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var scraped = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
        Assert.Single(scraped.Find("nv_inference_request_success", ("model", "add_one")));
        Assert.Empty(scraped.Find("nv_inference_request_success_total"));
    }
}
