using System.Net;
using Sluice.Server.Tests.TestSupport;

namespace Sluice.Server.Tests.Telemetry;

/// <summary>After a known burst, the scraped counters equal the client's own counts exactly.</summary>
public sealed class BurstCountingTests
{
    private const string Request = """{"inputs":[{"name":"INPUT0","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""";

    /// <summary>add_one with one instance and a queue of 4: with the gate closed, one request runs and four wait.</summary>
    internal static TestRepository GatedRepository()
    {
        var repository = new TestRepository().WithAddOne("gated");
        File.WriteAllText(Path.Combine(repository.Path, "gated", "config.pbtxt"), """
            name: "gated"
            max_batch_size: 8
            input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
            output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]
            dynamic_batching {
              max_queue_delay_microseconds: 100
              default_queue_policy { max_queue_size: 4 }
            }
            instance_group [ { count: 1, kind: KIND_CPU } ]
            """);
        return repository;
    }

    [Fact]
    public async Task Burst_SuccessesRejectionsCancels_CountersEqualClientCounts()
    {
        using var repository = GatedRepository();
        var backend = new GatedBackend();
        await using var server = await TelemetryServer.StartAsync(repository.Path, backend, models: "gated");
        (string, string)[] model = [("model", "gated"), ("version", "1")];
        var client = server.Client;
        int successes = 0, rejections = 0, cancels = 0;

        // :: One request holds the only instance at the closed gate.
        backend.Close();
        var running = client.PostAsync("v2/models/gated/infer", KServeHttp.Json(Request));
        await backend.Entered.WaitAsync(TimeSpan.FromSeconds(30));

        // :: Four wait in the queue (two of them will be cancelled by their clients).
        using var cancelFirst = new CancellationTokenSource();
        using var cancelSecond = new CancellationTokenSource();
        var queued = new[]
        {
            client.PostAsync("v2/models/gated/infer", KServeHttp.Json(Request)),
            client.PostAsync("v2/models/gated/infer", KServeHttp.Json(Request)),
            client.PostAsync("v2/models/gated/infer", KServeHttp.Json(Request), cancelFirst.Token),
            client.PostAsync("v2/models/gated/infer", KServeHttp.Json(Request), cancelSecond.Token),
        };
        await server.ScrapeUntilAsync(s => s.Find("nv_inference_pending_request_count", model).Any(x => x.Value == 4), "4 pending");

        // :: Three more find the queue full.
        for (var i = 0; i < 3; i++)
        {
            using var full = await client.PostAsync("v2/models/gated/infer", KServeHttp.Json(Request)).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, full.StatusCode);
            rejections++;
        }

        // :: Two clients give up while queued.
        await cancelFirst.CancelAsync();
        await cancelSecond.CancelAsync();
        foreach (var cancelled in queued[2..])
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(30)));
            cancels++;
        }

        await server.ScrapeUntilAsync(s => s.Find("nv_inference_pending_request_count", model).Any(x => x.Value == 2), "2 pending after the cancels");

        // :: Open the gate: the running one and the two still queued finish; then five more.
        backend.Open();
        foreach (var task in (Task<HttpResponseMessage>[])[running, queued[0], queued[1]])
        {
            using var response = await task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            successes++;
        }

        for (var i = 0; i < 5; i++)
        {
            using var response = await client.PostAsync("v2/models/gated/infer", KServeHttp.Json(Request)).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            successes++;
        }

        // :: The server tells its observers after the response is written: wait until the last outcomes are in, then compare.
        var scraped = await server.ScrapeUntilAsync(
            s => s.Find("nv_inference_request_success", model).Any(x => x.Value == successes)
                 && s.Find("nv_inference_request_failure", [.. model, ("reason", "CANCELED")]).Any(x => x.Value == cancels)
                 && s.Find("nv_inference_count", model).Any(x => x.Value == successes),
            "every outcome counted");

        Assert.Equal(8, successes);
        Assert.Equal(successes, scraped.Value("nv_inference_request_success", model));
        Assert.Equal(rejections, scraped.Value("nv_inference_request_failure", [.. model, ("reason", "REJECTED")]));
        Assert.Equal(cancels, scraped.Value("nv_inference_request_failure", [.. model, ("reason", "CANCELED")]));
        Assert.Equal(0, scraped.Value("nv_inference_request_failure", [.. model, ("reason", "BACKEND")]));
        Assert.Equal(0, scraped.Value("nv_inference_request_failure", [.. model, ("reason", "OTHER")]));
        Assert.Equal(successes, scraped.Value("nv_inference_count", model));   // one row per request; cancelled ones never ran
        Assert.Equal(0, scraped.Value("nv_inference_pending_request_count", model));
        Assert.Equal(0, scraped.Value("sluice_inflight_requests", model));

        // Histogram counts equal the successful requests; the batch histogram counts executions.
        foreach (var histogram in (string[])["sluice_request_duration_seconds", "sluice_request_queue_duration_seconds",
                     "sluice_request_compute_input_duration_seconds", "sluice_request_compute_infer_duration_seconds", "sluice_request_compute_output_duration_seconds"])
        {
            Assert.Equal(successes, scraped.Value(histogram + "_count", model));
        }

        var executions = scraped.Value("nv_inference_exec_count", model);
        Assert.Equal(executions, scraped.Value("sluice_batch_size_count", model));
        Assert.Equal(successes, scraped.Value("sluice_batch_size_sum", model));
        Assert.Equal(successes / executions, scraped.Value("sluice_batch_average_size", model), 6);
        Assert.Equal(successes / (executions * 8), scraped.Value("sluice_batch_fill_ratio", model), 6);

        // The queued requests waited at least as long as the gate was closed: the queue histogram's sum is positive.
        Assert.True(scraped.Value("sluice_request_queue_duration_seconds_sum", model) > 0);
    }
}
