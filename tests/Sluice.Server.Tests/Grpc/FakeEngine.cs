using System.Net;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Server.Grpc;
using GRPCInferenceService = Sluice.Server.Grpc.Protocol.GRPCInferenceService;
using Sluice.Server.Hosting;

namespace Sluice.Server.Tests.Grpc;

/// <summary>A hand-written <see cref="IInferenceService"/> whose behaviour each test sets, to drive the gRPC edge into failures the real engine produces only under load.</summary>
internal sealed class FakeInferenceService : IInferenceService
{
    public Func<InferenceRequest, CancellationToken, ValueTask<InferenceResponse>> OnInfer { get; set; } =
        (request, _) => ValueTask.FromResult(new InferenceResponse
        {
            ModelName = request.ModelName,
            ModelVersion = "1",
            Id = request.Id,
            Outputs = request.Inputs,
            Timestamps = request.Timestamps,
        });

    public ValueTask<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken) =>
        OnInfer(request, cancellationToken);
}

/// <summary>A hand-written <see cref="IModelRepositoryService"/> that records load/unload calls.</summary>
internal sealed class FakeModelRepositoryService : IModelRepositoryService
{
    public List<string> Loaded { get; } = [];
    public List<string> Unloaded { get; } = [];

    public bool IsModelReady(string name, string? version) => name == "echo";

    public ModelMetadata GetModelMetadata(string name, string? version) =>
        name == "echo" ? new ModelMetadata("echo", ["1"], "onnxruntime_onnx", [], []) : throw NotFound(name);

    public ModelConfig GetModelConfig(string name, string? version) =>
        name == "echo" ? new ModelConfig { Name = "echo" } : throw NotFound(name);

    public IReadOnlyList<RepositoryIndexEntry> GetIndex(bool readyOnly) => [new("echo", "1", "READY", "")];

    public Task LoadModelAsync(string name, CancellationToken cancellationToken)
    {
        lock (Loaded) Loaded.Add(name);
        return Task.CompletedTask;
    }

    public Task UnloadModelAsync(string name, CancellationToken cancellationToken)
    {
        lock (Unloaded) Unloaded.Add(name);
        return Task.CompletedTask;
    }

    public IReadOnlyList<ModelStatistics> GetStatistics(string? name, string? version) => [];

    private static InferenceException NotFound(string name) => new(InferenceError.ModelNotFound, $"model '{name}' is not in the repository");
}

/// <summary>The gRPC service on real Kestrel and a real client, over the fakes above.</summary>
internal sealed class FakeEngineHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly GrpcChannel _channel;

    private FakeEngineHost(WebApplication app, GrpcChannel channel, FakeInferenceService inference, FakeModelRepositoryService repository, ServerLifecycle lifecycle)
    {
        _app = app;
        _channel = channel;
        Inference = inference;
        Repository = repository;
        Lifecycle = lifecycle;
        Client = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
    }

    public FakeInferenceService Inference { get; }
    public FakeModelRepositoryService Repository { get; }
    public ServerLifecycle Lifecycle { get; }
    public GRPCInferenceService.GRPCInferenceServiceClient Client { get; }

    public static async Task<FakeEngineHost> StartAsync(bool management = false, string? token = null, long maxRequestBytes = 1024 * 1024)
    {
        var inference = new FakeInferenceService();
        var repository = new FakeModelRepositoryService();
        var lifecycle = new ServerLifecycle();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.Configure<SluiceServerOptions>(options =>
        {
            options.EnableModelManagement = management;
            options.ManagementToken = token;
            options.MaxRequestBodyBytes = maxRequestBytes;
        });
        builder.Services.AddSingleton<IInferenceService>(inference);
        builder.Services.AddSingleton<IModelRepositoryService>(repository);
        builder.Services.AddSingleton(lifecycle);
        builder.Services.AddKServeGrpc();
        var app = builder.Build();
        app.MapKServeGrpc();
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var channel = GrpcChannel.ForAddress(address);
        return new FakeEngineHost(app, channel, inference, repository, lifecycle);
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await _app.DisposeAsync();
    }
}
