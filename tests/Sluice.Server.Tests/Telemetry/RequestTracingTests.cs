using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Server.Grpc.Protocol;
using Sluice.Server.Telemetry;
using Sluice.Server.Tests.TestSupport;

namespace Sluice.Server.Tests.Telemetry;

/// <summary>A span per request with a child per phase, under the caller's W3C trace context, for HTTP and gRPC; counted for gRPC too.</summary>
public sealed class RequestTracingTests : IDisposable
{
    private readonly ConcurrentBag<Activity> _stopped = [];
    private readonly ActivityListener _listener;

    public RequestTracingTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = static source => source.Name is RequestTracing.SourceName or "Microsoft.AspNetCore",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Add,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose() => _listener.Dispose();

    [Fact]
    public async Task HttpInfer_WithTraceparent_RequestSpanAndPhaseChildrenInCallersTrace()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "add_one");
        var traceId = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v2/models/add_one/infer")
        {
            Content = KServeHttp.Json("""{"inputs":[{"name":"INPUT0","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"""),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");

        using var response = await server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertRequestSpans(await SpansOfAsync(traceId), "add_one", "http");
    }

    [Fact]
    public async Task GrpcInfer_WithTraceparent_RequestSpanInCallersTraceAndCounted()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await TelemetryServer.StartAsync(repository.Path, models: "add_one");
        using var channel = GrpcChannel.ForAddress(server.Addresses.Grpc);
        var client = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var traceId = ActivityTraceId.CreateRandom();
        var message = new ModelInferRequest { ModelName = "add_one" };
        message.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "INPUT0", Datatype = "FP32", Shape = { 1, 4 } });
        message.RawInputContents.Add(ByteString.CopyFrom(KServeHttp.Bytes(1f, 2f, 3f, 4f)));

        await client.ModelInferAsync(message, new Metadata { { "traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01" } })
            .ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30));
        var bad = new ModelInferRequest { ModelName = "add_one" };
        bad.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "INPUT0", Datatype = "FP32", Shape = { 1, 4 } });
        await Assert.ThrowsAsync<RpcException>(() => client.ModelInferAsync(bad).ResponseAsync.WaitAsync(TimeSpan.FromSeconds(30)));   // no data: decode error

        AssertRequestSpans(await SpansOfAsync(traceId), "add_one", "grpc");
        var scraped = await server.ScrapeUntilAsync(s => s.Find("nv_inference_request_failure", ("reason", "OTHER")).Any(x => x.Value == 1), "the decode error counted");
        Assert.Equal(1, scraped.Value("nv_inference_request_success", ("model", "add_one"), ("version", "1")));
    }

    private async Task<List<Activity>> SpansOfAsync(ActivityTraceId traceId)
    {
        // Spans are recorded after the response is written: wait for the request span, then take the trace.
        await Conditions.WaitUntilAsync(() => _stopped.Any(a => a.TraceId == traceId && a.Source.Name == RequestTracing.SourceName && a.OperationName.StartsWith("infer ", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(20), "the request span");
        return _stopped.Where(a => a.TraceId == traceId).ToList();
    }

    private static void AssertRequestSpans(List<Activity> spans, string model, string protocol)
    {
        var request = Assert.Single(spans, a => a.Source.Name == RequestTracing.SourceName && a.OperationName == "infer " + model);
        Assert.Equal(protocol, request.GetTagItem("sluice.protocol"));
        Assert.Equal("1", request.GetTagItem("sluice.model_version"));
        Assert.NotEqual(default, request.ParentSpanId);   // under ASP.NET Core's request span, itself under the caller's

        var phases = spans.Where(a => a.Source.Name == RequestTracing.SourceName && a.ParentSpanId == request.SpanId).ToList();
        Assert.Equal(["compute_infer", "compute_input", "compute_output", "queue"], phases.Select(p => p.OperationName).Order());
        foreach (var phase in phases)
        {
            Assert.True(phase.StartTimeUtc >= request.StartTimeUtc, phase.OperationName);
            Assert.True(phase.StartTimeUtc + phase.Duration <= request.StartTimeUtc + request.Duration + TimeSpan.FromMilliseconds(1), phase.OperationName);
        }
    }
}
