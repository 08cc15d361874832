using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Sluice.Core.Tensors;
using Sluice.Engine.Hosting;
using Sluice.Engine.Repository;
using Sluice.Onnx.Graph;
using Sluice.Server.Grpc.Protocol;
using DataType = Sluice.Core.Tensors.DataType;
using Sluice.Server.Hosting;

namespace Sluice.Server.Tests.Grpc;

/// <summary>
/// A real server on 127.0.0.1 (port 0, HTTP/2 only) with the real engine over a temporary repository of small generated models
/// and the demo MiniLM model, and a real gRPC client. Shared by the tests of one class.
/// </summary>
public sealed class GrpcServerFixture : IAsyncLifetime
{
    public const string Token = "grpc-test-token";
    public const long MaxRequestBytes = 4L * 1024 * 1024;

    /// <summary>Identity models for datatype round trips: name, datatype, dims (excluding the batch dimension).</summary>
    public static readonly (string Name, DataType Type)[] IdentityModels =
    [
        ("identity_bool", DataType.Bool), ("identity_int8", DataType.Int8), ("identity_int16", DataType.Int16),
        ("identity_int32", DataType.Int32), ("identity_int64", DataType.Int64), ("identity_uint8", DataType.UInt8),
        ("identity_uint16", DataType.UInt16), ("identity_uint32", DataType.UInt32), ("identity_uint64", DataType.UInt64),
        ("identity_fp32", DataType.Fp32), ("identity_fp64", DataType.Fp64), ("identity_fp16", DataType.Fp16),
        ("identity_bytes", DataType.Bytes),
    ];

    private readonly string _repository = Path.Combine(Path.GetTempPath(), "sluice-grpc-" + Guid.NewGuid().ToString("N"));
    private WebApplication? _app;
    private GrpcChannel? _channel;

    public GRPCInferenceService.GRPCInferenceServiceClient Client { get; private set; } = null!;

    public IServiceProvider Services => _app!.Services;

    public Uri Address { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        SampleModels.WriteAddOne(Path.Combine(_repository, "add_one", "1", "model.onnx"));
        SampleModels.WriteAddSub(Path.Combine(_repository, "add_sub", "1", "model.onnx"));
        SampleModels.WriteAddOne(Path.Combine(_repository, "managed", "1", "model.onnx"));
        TestSupport.TestRepository.WriteTritonAddSub(_repository, "simple");
        foreach (var (name, type) in IdentityModels)
        {
            SampleModels.WriteIdentity(Path.Combine(_repository, name, "1", "model.onnx"), type, [-1, 3]);
        }

        DemoRepository.WriteMiniLm(_repository);

        _app = Build(_repository, management: true);
        await _app.StartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Address = SluiceApplication.GetAddresses(_app).Grpc;
        _channel = GrpcChannel.ForAddress(Address, new GrpcChannelOptions { MaxReceiveMessageSize = null });
        Client = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);

        foreach (var model in new[] { "add_one", "add_sub", "managed", "simple", DemoRepository.ModelName }.Concat(IdentityModels.Select(m => m.Name)))
        {
            await WaitUntilReadyAsync(Client, model, TimeSpan.FromSeconds(120));
        }
    }

    /// <summary>Builds (not starts) the real host on 127.0.0.1 with both ports chosen by the OS.</summary>
    public static WebApplication Build(string repository, bool management) =>
        SluiceApplication.Build(
            new SluiceServerOptions
            {
                HttpPort = 0,
                GrpcPort = 0,
                MetricsPort = 0,
                ListenAddress = "127.0.0.1",
                MaxRequestBodyBytes = MaxRequestBytes,
                EnableModelManagement = management,
                ManagementToken = management ? Token : null,
            },
            options =>
            {
                options.RepositoryPath = repository;
                options.ControlMode = ModelControlMode.Explicit;
                options.StartupModels = ["*"];
            },
            ["--Logging:LogLevel:Default=Warning"]);

    /// <summary>Polls ModelReady until true: the engine loads models in the background after start.</summary>
    public static async Task WaitUntilReadyAsync(GRPCInferenceService.GRPCInferenceServiceClient client, string model, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            var ready = await client.ModelReadyAsync(new ModelReadyRequest { Name = model }, cancellationToken: deadline.Token);
            if (ready.Ready)
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), deadline.Token);   // polling a condition, not waiting for it to settle
        }
    }

    public static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    public async Task DisposeAsync()
    {
        _channel?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await _app.DisposeAsync();
        }

        try
        {
            Directory.Delete(_repository, recursive: true);
        }
        catch (IOException)
        {
            // A file still mapped by the runtime; the temp folder is cleaned by the OS.
        }
    }
}
