using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Sluice.Core.Tensors;
using Sluice.Bench.Measurement;
using Sluice.Bench.Workload;
using Sluice.Server.Grpc.Protocol;

namespace Sluice.Bench.Clients;

/// <summary>
/// KServe v2 / Triton gRPC: unary <c>ModelInfer</c> with raw input contents, the request message built once. Also the
/// control side (metadata, statistics) over the same channel.
/// </summary>
public sealed class GrpcInferClient : IInferClient, IModelControl
{
    private static readonly Metadata TimingHeaders = new() { { "sluice-timing", "true" } };
    private readonly GrpcChannel _channel;
    private readonly GRPCInferenceService.GRPCInferenceServiceClient _client;
    private ModelInferRequest? _request;

    /// <summary>Opens a channel to <paramref name="address"/> (HTTP/2; several connections when streams run out).</summary>
    public GrpcInferClient(Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
                UseProxy = false,
            },
            MaxReceiveMessageSize = 256 * 1024 * 1024,
            MaxSendMessageSize = 256 * 1024 * 1024,
        });
        _client = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
    }

    /// <inheritdoc />
    public string Protocol => "grpc";

    /// <summary>Builds the request every <see cref="InferAsync"/> sends.</summary>
    public void Prepare(string model, string? version, Workload.Workload workload, IReadOnlyList<string> outputs)
    {
        var request = new ModelInferRequest { ModelName = model, ModelVersion = version ?? "" };
        foreach (var tensor in workload.Inputs)
        {
            var input = new ModelInferRequest.Types.InferInputTensor { Name = tensor.Name, Datatype = tensor.DataType.ToKServeName() };
            input.Shape.AddRange(tensor.Shape);
            request.Inputs.Add(input);
            request.RawInputContents.Add(ByteString.CopyFrom(tensor.Data.Span));
        }

        foreach (var output in outputs)
        {
            request.Outputs.Add(new ModelInferRequest.Types.InferRequestedOutputTensor { Name = output });
        }

        _request = request;
    }

    /// <inheritdoc />
    public async ValueTask<InferOutcome> InferAsync(CancellationToken cancellationToken)
    {
        var request = _request ?? throw new InvalidOperationException("Prepare must be called before InferAsync.");
        try
        {
            using var call = _client.ModelInferAsync(request, TimingHeaders, cancellationToken: cancellationToken);
            await call.ResponseAsync.ConfigureAwait(false);
            return new InferOutcome(true, "OK", ReadTiming(call.GetTrailers()));
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            return InferOutcome.Failed("canceled");
        }
        catch (RpcException exception)
        {
            return InferOutcome.Failed("grpc " + exception.StatusCode);
        }
    }

    private static ServerTiming? ReadTiming(Metadata trailers)
    {
        long? Get(string key) => trailers.GetValue(key) is { } text && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;
        return Get("sluice-queue-us") is { } queue && Get("sluice-compute-input-us") is { } input &&
               Get("sluice-compute-infer-us") is { } infer && Get("sluice-compute-output-us") is { } output
            ? new ServerTiming(queue, input, infer, output)
            : null;
    }

    /// <inheritdoc />
    public async Task<ModelDescription> GetMetadataAsync(string model, string? version, CancellationToken cancellationToken)
    {
        ModelMetadataResponse response;
        try
        {
            response = await _client.ModelMetadataAsync(new ModelMetadataRequest { Name = model, Version = version ?? "" }, cancellationToken: cancellationToken)
                .ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException exception)
        {
            throw new BenchException($"ModelMetadata for '{model}' failed: {exception.StatusCode} {exception.Status.Detail}");
        }

        var inputs = response.Inputs.Select(t => DataTypes.TryParse(t.Datatype, out var type)
            ? new InputSpec(t.Name, type, t.Shape.ToArray())
            : throw new BenchException($"model '{model}': input '{t.Name}' has datatype '{t.Datatype}', which is not a KServe v2 datatype")).ToArray();
        return new ModelDescription(model, response.Versions.ToArray(), inputs, response.Outputs.Select(o => o.Name).ToArray());
    }

    /// <inheritdoc />
    public async Task<ServerStatistics?> GetStatisticsAsync(string model, string? version, CancellationToken cancellationToken)
    {
        ModelStatisticsResponse response;
        try
        {
            response = await _client.ModelStatisticsAsync(new ModelStatisticsRequest { Name = model, Version = version ?? "" }, cancellationToken: cancellationToken)
                .ResponseAsync.ConfigureAwait(false);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.Unimplemented)
        {
            return null;
        }

        var total = ServerStatistics.Zero;
        foreach (var stats in response.ModelStats.Where(s => s.Name == model && (string.IsNullOrEmpty(version) || s.Version == version)))
        {
            var i = stats.InferenceStats ?? new InferStatistics();
            total = total.Plus(new ServerStatistics((long)stats.InferenceCount, (long)stats.ExecutionCount,
                D(i.Success), D(i.Fail), D(i.Queue), D(i.ComputeInput), D(i.ComputeInfer), D(i.ComputeOutput)));
        }

        return total;

        static StatDuration D(StatisticDuration? d) => d is null ? default : new StatDuration((long)d.Count, (long)d.Ns);
    }

    /// <inheritdoc />
    public void Dispose() => _channel.Dispose();
}
