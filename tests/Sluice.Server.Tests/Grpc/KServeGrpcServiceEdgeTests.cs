using Google.Protobuf;
using System.Diagnostics;
using Grpc.Core;
using Sluice.Core.Inference;
using Sluice.Server.Grpc.Protocol;
using static Sluice.Server.Tests.Grpc.ModelInferRequestDecoderTests;

namespace Sluice.Server.Tests.Grpc;

/// <summary>The gRPC edge's handling of engine outcomes (overload, cancellation, faults, draining, management), over hand-written engine fakes.</summary>
public sealed class KServeGrpcServiceEdgeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ModelInfer_QueueFull_UnavailableWithRetryAfterTrailer()
    {
        await using var host = await FakeEngineHost.StartAsync();
        host.Inference.OnInfer = (_, _) => throw new InferenceException(InferenceError.QueueFull, "model 'echo': queue is full (1024 waiting)")
        {
            RetryAfter = TimeSpan.FromMilliseconds(2500),
        };

        var error = await Assert.ThrowsAsync<RpcException>(() => host.Client.ModelInferAsync(EchoRequest()).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("queue is full", error.Status.Detail);
        Assert.Equal("3", error.Trailers.GetValue("retry-after"));
    }

    [Fact]
    public async Task ModelInfer_BackendThrowsUnexpectedException_InternalWithoutExceptionDetails()
    {
        await using var host = await FakeEngineHost.StartAsync();
        host.Inference.OnInfer = (_, _) => throw new InvalidOperationException("secret /home/user/models/echo/1/model.onnx");

        var error = await Assert.ThrowsAsync<RpcException>(() => host.Client.ModelInferAsync(EchoRequest()).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.Internal, error.StatusCode);
        Assert.Contains("echo", error.Status.Detail);
        Assert.DoesNotContain("/home", error.Status.Detail);
        Assert.DoesNotContain("InvalidOperationException", error.Status.Detail);
    }

    [Fact]
    public async Task ModelInfer_ClientCancelsWhileQueued_ServerSeesCancellationAndStaysReady()
    {
        await using var host = await FakeEngineHost.StartAsync();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var serverSawCancel = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Inference.OnInfer = async (_, cancellationToken) =>
        {
            started.SetResult();
            try
            {
                await Task.Delay(System.Threading.Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                serverSawCancel.SetResult();
                throw;
            }

            throw new UnreachableException();
        };
        using var cancel = new CancellationTokenSource();

        var call = host.Client.ModelInferAsync(EchoRequest(), cancellationToken: cancel.Token);
        await started.Task.WaitAsync(Timeout);
        cancel.Cancel();

        var error = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync.WaitAsync(Timeout));
        Assert.Equal(StatusCode.Cancelled, error.StatusCode);
        await serverSawCancel.Task.WaitAsync(Timeout);
        Assert.True((await host.Client.ServerReadyAsync(new ServerReadyRequest()).ResponseAsync.WaitAsync(Timeout)).Ready);
        Assert.Equal(0, host.Lifecycle.InFlight);
    }

    [Fact]
    public async Task ModelInfer_Draining_UnavailableAndNotReady()
    {
        await using var host = await FakeEngineHost.StartAsync();
        var called = false;
        host.Inference.OnInfer = (request, _) => { called = true; throw new UnreachableException(); };
        host.Lifecycle.BeginDrain();

        var error = await Assert.ThrowsAsync<RpcException>(() => host.Client.ModelInferAsync(EchoRequest()).ResponseAsync.WaitAsync(Timeout));
        var ready = await host.Client.ServerReadyAsync(new ServerReadyRequest()).ResponseAsync.WaitAsync(Timeout);
        var live = await host.Client.ServerLiveAsync(new ServerLiveRequest()).ResponseAsync.WaitAsync(Timeout);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.NotNull(error.Trailers.GetValue("retry-after"));
        Assert.False(called);
        Assert.False(ready.Ready);
        Assert.True(live.Live);
    }

    [Fact]
    public async Task ModelInfer_MessageOverLimit_ResourceExhausted()
    {
        await using var host = await FakeEngineHost.StartAsync(maxRequestBytes: 64 * 1024);
        var request = Request("echo", Input("x", "UINT8", [1, 100_000]));
        request.RawInputContents.Add(ByteString.CopyFrom(new byte[100_000]));

        var error = await Assert.ThrowsAsync<RpcException>(() => host.Client.ModelInferAsync(request).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
    }

    [Fact]
    public async Task RepositoryModelLoad_ManagementDisabled_Unauthenticated()
    {
        await using var host = await FakeEngineHost.StartAsync(management: false);

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            host.Client.RepositoryModelLoadAsync(new RepositoryModelLoadRequest { ModelName = "echo" }, GrpcTestMetadata.Bearer("x")).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains("management", error.Status.Detail);
        Assert.Empty(host.Repository.Loaded);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer wrong")]
    [InlineData("Basic right-token")]
    [InlineData("Bearer right-token-but-longer")]
    public async Task RepositoryModelUnload_MissingOrWrongToken_UnauthenticatedAndNothingUnloaded(string? authorization)
    {
        await using var host = await FakeEngineHost.StartAsync(management: true, token: "right-token");
        var headers = new Metadata();
        if (authorization is not null)
        {
            headers.Add("authorization", authorization);
        }

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            host.Client.RepositoryModelUnloadAsync(new RepositoryModelUnloadRequest { ModelName = "echo" }, headers).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
        Assert.Contains("authorization", error.Status.Detail);
        Assert.DoesNotContain("right-token", error.Status.Detail);
        Assert.Empty(host.Repository.Unloaded);
    }

    [Fact]
    public async Task RepositoryModelLoadAndUnload_RightToken_ReachRepository()
    {
        await using var host = await FakeEngineHost.StartAsync(management: true, token: "right-token");

        await host.Client.RepositoryModelLoadAsync(new RepositoryModelLoadRequest { ModelName = "echo" }, GrpcTestMetadata.Bearer("right-token")).ResponseAsync.WaitAsync(Timeout);
        await host.Client.RepositoryModelUnloadAsync(new RepositoryModelUnloadRequest { ModelName = "echo" }, GrpcTestMetadata.Bearer("right-token")).ResponseAsync.WaitAsync(Timeout);

        Assert.Equal(["echo"], host.Repository.Loaded);
        Assert.Equal(["echo"], host.Repository.Unloaded);
    }

    [Fact]
    public async Task ModelStreamInfer_EngineFaultOnOneRequest_OthersAnsweredAndStreamStaysOpen()
    {
        await using var host = await FakeEngineHost.StartAsync();
        host.Inference.OnInfer = (request, _) => request.Id == "bad"
            ? throw new InferenceException(InferenceError.QueueTimeout, "model 'echo': waited longer than 5000 ms in the queue")
            : ValueTask.FromResult(new InferenceResponse { ModelName = "echo", ModelVersion = "1", Id = request.Id, Outputs = request.Inputs, Timestamps = request.Timestamps });
        using var call = host.Client.ModelStreamInfer();

        foreach (var id in new[] { "a", "bad", "b" })
        {
            var request = EchoRequest();
            request.Id = id;
            await call.RequestStream.WriteAsync(request).WaitAsync(Timeout);
        }

        await call.RequestStream.CompleteAsync().WaitAsync(Timeout);
        var answers = new Dictionary<string, ModelStreamInferResponse>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout))
        {
            answers[call.ResponseStream.Current.InferResponse.Id] = call.ResponseStream.Current;
        }

        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
        Assert.Equal("", answers["a"].ErrorMessage);
        Assert.Equal("", answers["b"].ErrorMessage);
        Assert.Contains("queue", answers["bad"].ErrorMessage);
    }

    [Fact]
    public async Task ModelStreamInfer_FirstRequestBlocked_LaterRequestAnsweredFirst()
    {
        await using var host = await FakeEngineHost.StartAsync();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.Inference.OnInfer = async (request, cancellationToken) =>
        {
            if (request.Id == "first")
            {
                await gate.Task.WaitAsync(cancellationToken);   // held until the client has seen the second answer
            }

            return new InferenceResponse { ModelName = "echo", ModelVersion = "1", Id = request.Id, Outputs = request.Inputs, Timestamps = request.Timestamps };
        };
        using var call = host.Client.ModelStreamInfer();

        foreach (var id in new[] { "first", "second" })
        {
            var request = EchoRequest();
            request.Id = id;
            await call.RequestStream.WriteAsync(request).WaitAsync(Timeout);
        }

        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout));
        var earlier = call.ResponseStream.Current.InferResponse.Id;
        gate.SetResult();
        await call.RequestStream.CompleteAsync().WaitAsync(Timeout);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout));
        var later = call.ResponseStream.Current.InferResponse.Id;

        Assert.Equal(("second", "first"), (earlier, later));
        Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout));
    }

    [Fact]
    public async Task ModelMetadata_UnknownModel_NotFound()
    {
        await using var host = await FakeEngineHost.StartAsync();

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            host.Client.ModelMetadataAsync(new ModelMetadataRequest { Name = "nope" }).ResponseAsync.WaitAsync(Timeout));

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
        Assert.Contains("nope", error.Status.Detail);
    }

    private static ModelInferRequest EchoRequest()
    {
        var request = Request("echo", Input("x", "FP32", [1, 2]));
        request.RawInputContents.Add(ByteString.CopyFrom(LittleEndian([1f, 2f])));
        return request;
    }
}

internal static class GrpcTestMetadata
{
    public static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };
}
