using System.Net;
using Sluice.Server.Tests.TestSupport;

namespace Sluice.Server.Tests.Telemetry;

/// <summary>A real Prometheus scrapes the server; PromQL over its data gives the request count and a p99 from our histograms.</summary>
public sealed class PrometheusScrapeTests
{
    [Fact]
    public async Task PromQl_AfterKnownRequests_CountAndP99MatchTheClient()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "add_one");
        var metrics = server.Addresses.Metrics!;
        await using var prometheus = await PrometheusServer.StartAsync($"{metrics.Host}:{metrics.Port}");

        // :: A known number of requests, each answered 200.
        const int Requests = 40;
        for (var i = 0; i < Requests; i++)
        {
            using var response = await server.Client.PostAsync("v2/models/add_one/infer",
                KServeHttp.Json("""{"inputs":[{"name":"INPUT0","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"""));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var local = await server.ScrapeUntilAsync(s => s.Find("sluice_request_duration_seconds_count", ("model", "add_one")).Any(x => x.Value == Requests), "all requests observed");

        // :: Prometheus sees exactly the client's count, from Triton's counter and from our histogram.
        var success = await prometheus.QueryUntilAsync("""nv_inference_request_success{model="add_one",version="1"}""", v => v == Requests);
        var histogramCount = await prometheus.QueryUntilAsync("""sluice_request_duration_seconds_count{model="add_one",version="1"}""", v => v == Requests);
        Assert.Equal(Requests, success);
        Assert.Equal(Requests, histogramCount);

        // :: p99 from the buckets: Prometheus' histogram_quantile over the stored buckets equals the same interpolation over the
        //    buckets we scraped ourselves, and lies within the bucket that holds the 99th percentile observation.
        var p99 = await prometheus.QueryUntilAsync(
            """histogram_quantile(0.99, sum by (le) (sluice_request_duration_seconds_bucket{model="add_one",version="1"}))""", double.IsFinite);
        var buckets = local.Find("sluice_request_duration_seconds_bucket", ("model", "add_one"), ("version", "1"))
            .Select(s => (Le: s.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(s.Labels["le"], System.Globalization.CultureInfo.InvariantCulture), Count: s.Value))
            .OrderBy(b => b.Le).ToList();
        var expected = Quantile(0.99, buckets);
        Assert.Equal(expected, p99, 9);
        Assert.True(p99 > 0 && p99 < 10, $"p99 {p99} s");
    }

    /// <summary>Prometheus' histogram_quantile, written independently: linear interpolation inside the bucket holding the rank.</summary>
    private static double Quantile(double q, IReadOnlyList<(double Le, double Count)> buckets)
    {
        var total = buckets[^1].Count;
        var rank = q * total;
        for (var i = 0; i < buckets.Count; i++)
        {
            if (buckets[i].Count >= rank)
            {
                if (double.IsPositiveInfinity(buckets[i].Le))
                {
                    return buckets[i - 1].Le;
                }

                var lower = i == 0 ? 0 : buckets[i - 1].Le;
                var below = i == 0 ? 0 : buckets[i - 1].Count;
                var inBucket = buckets[i].Count - below;
                return lower + (buckets[i].Le - lower) * ((rank - below) / inBucket);
            }
        }

        return double.NaN;
    }
}
