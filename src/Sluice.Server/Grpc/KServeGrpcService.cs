using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Server.Errors;
using Sluice.Server.Grpc.Protocol;
using Sluice.Server.Hosting;

namespace Sluice.Server.Grpc;

/// <summary>
/// Triton's / KServe's <c>inference.GRPCInferenceService</c>, served from <see cref="IInferenceService"/>,
/// <see cref="IModelRepositoryService"/> and <see cref="ServerLifecycle"/>.
/// </summary>
/// <remarks>
/// Every failure leaves as an <see cref="RpcException"/> whose code comes from <see cref="InferenceErrorMapping.ToGrpcStatus"/>
/// and whose message names the offending field; nothing escapes as UNKNOWN, and no message carries a stack trace, exception
/// type or path. Retryable failures carry a <c>retry-after</c> trailer in seconds.
/// </remarks>
public sealed partial class KServeGrpcService : GRPCInferenceService.GRPCInferenceServiceBase
{
    /// <summary>Request metadata key that asks for the phase timings in trailing metadata.</summary>
    public const string TimingHeader = "sluice-timing";

    /// <summary>The extensions <c>ServerMetadata</c> reports: the same list as the HTTP <c>/v2</c> endpoint, as Triton does.</summary>
    internal static readonly string[] Extensions =
        ["binary_tensor_data", "model_repository", "model_repository(unload_dependents)", "statistics", "model_configuration", "schedule_policy"];

    /// <summary>Most requests of one stream in flight at once; reading the stream pauses at this limit.</summary>
    private const int MaxConcurrentStreamRequests = 64;

    private static readonly string ServerVersion =
        typeof(KServeGrpcService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";

    private readonly IInferenceService _inference;
    private readonly IModelRepositoryService _repository;
    private readonly ServerLifecycle _lifecycle;
    private readonly IOptionsMonitor<SluiceServerOptions> _options;
    private readonly ILogger<KServeGrpcService> _logger;
    private readonly Telemetry.InferenceObservers? _observers;

    public KServeGrpcService(
        IInferenceService inference,
        IModelRepositoryService repository,
        ServerLifecycle lifecycle,
        IOptionsMonitor<SluiceServerOptions> options,
        ILogger<KServeGrpcService> logger,
        Telemetry.InferenceObservers? observers = null)
    {
        _observers = observers;
        _inference = inference;
        _repository = repository;
        _lifecycle = lifecycle;
        _options = options;
        _logger = logger;
    }

    public override Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerLiveResponse { Live = true });

    public override Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerReadyResponse { Ready = !_lifecycle.IsDraining });

    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context)
    {
        var response = new ServerMetadataResponse { Name = "sluice", Version = ServerVersion };
        response.Extensions.Add(Extensions);
        return Task.FromResult(response);
    }

    public override Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context) =>
        Guard(context, () =>
        {
            ModelInferRequestDecoder.ValidateModelName(request.Name, "name");
            ModelInferRequestDecoder.ValidateModelVersion(request.Version, "version");
            return new ModelReadyResponse { Ready = _repository.IsModelReady(request.Name, NullIfEmpty(request.Version)) };
        });

    public override Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context) =>
        Guard(context, () =>
        {
            ModelInferRequestDecoder.ValidateModelName(request.Name, "name");
            ModelInferRequestDecoder.ValidateModelVersion(request.Version, "version");
            return ProtocolMapping.ToProto(_repository.GetModelMetadata(request.Name, NullIfEmpty(request.Version)));
        });

    public override Task<ModelConfigResponse> ModelConfig(ModelConfigRequest request, ServerCallContext context) =>
        Guard(context, () =>
        {
            ModelInferRequestDecoder.ValidateModelName(request.Name, "name");
            ModelInferRequestDecoder.ValidateModelVersion(request.Version, "version");
            var config = _repository.GetModelConfig(request.Name, NullIfEmpty(request.Version));
            return new ModelConfigResponse { Config = ProtocolMapping.ToProto(config) };
        });

    public override Task<ModelStatisticsResponse> ModelStatistics(ModelStatisticsRequest request, ServerCallContext context) =>
        Guard(context, () =>
        {
            if (request.Name.Length > 0)
            {
                ModelInferRequestDecoder.ValidateModelName(request.Name, "name");
            }

            ModelInferRequestDecoder.ValidateModelVersion(request.Version, "version");
            var response = new ModelStatisticsResponse();
            foreach (var statistics in _repository.GetStatistics(NullIfEmpty(request.Name), NullIfEmpty(request.Version)))
            {
                response.ModelStats.Add(ProtocolMapping.ToProto(statistics));
            }

            return response;
        });

    public override Task<RepositoryIndexResponse> RepositoryIndex(RepositoryIndexRequest request, ServerCallContext context) =>
        Guard(context, () =>
        {
            var response = new RepositoryIndexResponse();
            foreach (var entry in _repository.GetIndex(request.Ready))
            {
                response.Models.Add(ProtocolMapping.ToProto(entry));
            }

            return response;
        });

    public override async Task<RepositoryModelLoadResponse> RepositoryModelLoad(RepositoryModelLoadRequest request, ServerCallContext context)
    {
        try
        {
            AuthorizeManagement(context);
            ModelInferRequestDecoder.ValidateModelName(request.ModelName, "model_name");
            if (request.Parameters.Count > 0)
            {
                // Triton accepts a config override or model files here; Sluice loads only what the repository holds.
                throw new InferenceException(InferenceError.InvalidInput,
                    $"parameters: '{ModelInferRequestDecoder.Printable(request.Parameters.Keys.First())}' is not supported; load reads the model from the repository");
            }

            await _repository.LoadModelAsync(request.ModelName, context.CancellationToken).ConfigureAwait(false);
            Log.ModelLoadRequested(_logger, request.ModelName);
            return new RepositoryModelLoadResponse();
        }
        catch (Exception exception) when (exception is not RpcException)
        {
            throw ToRpcException(exception, context, operation: "load");
        }
    }

    public override async Task<RepositoryModelUnloadResponse> RepositoryModelUnload(RepositoryModelUnloadRequest request, ServerCallContext context)
    {
        try
        {
            AuthorizeManagement(context);
            ModelInferRequestDecoder.ValidateModelName(request.ModelName, "model_name");
            await _repository.UnloadModelAsync(request.ModelName, context.CancellationToken).ConfigureAwait(false);
            Log.ModelUnloadRequested(_logger, request.ModelName);
            return new RepositoryModelUnloadResponse();
        }
        catch (Exception exception) when (exception is not RpcException)
        {
            throw ToRpcException(exception, context, operation: "unload");
        }
    }

    /// <summary>Runs one inference request.</summary>
    /// <remarks>
    /// <list type="number">
    /// <item>Stamp <see cref="RequestTimestamps.Received"/>, then admit the request unless the server is draining.</item>
    /// <item>Decode the wire request (<see cref="ModelInferRequestDecoder"/>), which rejects malformed tensors with INVALID_ARGUMENT.</item>
    /// <item>Run it through <see cref="IInferenceService"/> (validate against the model, queue, batch, execute), which may reject with
    /// UNAVAILABLE (queue full, timeout, draining) and a <c>retry-after</c> trailer.</item>
    /// <item>Encode the outputs as <c>raw_output_contents</c>, stamp <see cref="RequestTimestamps.ResponseSent"/>, and add the phase
    /// timings as trailers when the client sent <c>sluice-timing: true</c>.</item>
    /// </list>
    /// </remarks>
    public override async Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
    {
        try
        {
            var response = await InferAsync(request, context.CancellationToken).ConfigureAwait(false);

            // :: Step 4
            if (WantsTiming(context))
            {
                AddTimingTrailers(context.ResponseTrailers, response.Timestamps);
            }

            return response.Message;
        }
        catch (Exception exception) when (exception is not RpcException)
        {
            throw ToRpcException(exception, context, operation: "infer", request.ModelName);
        }
    }

    /// <summary>Answers each request of the stream with one <see cref="ModelStreamInferResponse"/>.</summary>
    /// <remarks>
    /// Requests run concurrently (up to <see cref="MaxConcurrentStreamRequests"/>), so a slow one does not hold back the next;
    /// their answers go through one channel to a single writer, because a gRPC stream takes one write at a time. A failed
    /// request is answered with <c>error_message</c> and the stream stays open, as Triton does.
    /// </remarks>
    public override async Task ModelStreamInfer(
        IAsyncStreamReader<ModelInferRequest> requestStream,
        IServerStreamWriter<ModelStreamInferResponse> responseStream,
        ServerCallContext context)
    {
        var cancellationToken = context.CancellationToken;
        var answers = Channel.CreateUnbounded<ModelStreamInferResponse>(new UnboundedChannelOptions { SingleReader = true });
        using var slots = new SemaphoreSlim(MaxConcurrentStreamRequests);
        var inFlight = new List<Task>();

        // The only writer of responseStream.
        var writer = Task.Run(async () =>
        {
            await foreach (var answer in answers.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                await responseStream.WriteAsync(answer, cancellationToken).ConfigureAwait(false);
            }
        }, cancellationToken);

        try
        {
            while (await requestStream.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                var request = requestStream.Current;
                await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
                inFlight.RemoveAll(static task => task.IsCompleted);
                inFlight.Add(AnswerAsync(request));
            }

            await Task.WhenAll(inFlight).ConfigureAwait(false);
            answers.Writer.TryComplete();
            await writer.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.StreamCanceled(_logger);
            throw new RpcException(new Status(StatusCode.Cancelled, "the client cancelled the stream"));
        }
        finally
        {
            // AnswerAsync never throws; wait for every started request so none touches the semaphore after it is disposed.
            answers.Writer.TryComplete();
            await Task.WhenAll(inFlight).ConfigureAwait(false);
            try
            {
                await writer.ConfigureAwait(false);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // The client is gone; its unwritten answers go nowhere. Observed here so the fault is not reported as unobserved.
            }
        }

        async Task AnswerAsync(ModelInferRequest request)
        {
            try
            {
                var result = await InferAsync(request, cancellationToken).ConfigureAwait(false);
                answers.Writer.TryWrite(new ModelStreamInferResponse { InferResponse = result.Message });
            }
            catch (Exception exception)
            {
                var (_, message, _) = Classify(exception, cancellationToken, "infer", request.ModelName);
                answers.Writer.TryWrite(new ModelStreamInferResponse
                {
                    ErrorMessage = message,
                    InferResponse = new ModelInferResponse { ModelName = request.ModelName, ModelVersion = request.ModelVersion, Id = request.Id },
                });
            }
            finally
            {
                slots.Release();
            }
        }
    }

    /// <summary>Steps 1 to 3 of <see cref="ModelInfer"/>, shared with the stream.</summary>
    private async Task<(ModelInferResponse Message, RequestTimestamps Timestamps)> InferAsync(ModelInferRequest message, CancellationToken cancellationToken)
    {
        // :: Step 1
        var received = Stopwatch.GetTimestamp();
        var timestamps = new RequestTimestamps { Received = received };
        var version = NullIfEmpty(message.ModelVersion);
        var error = InferenceError.None;
        try
        {
            if (!_lifecycle.TryEnter())
            {
                throw new InferenceException(InferenceError.Draining, "the server is shutting down and accepts no new requests")
                {
                    RetryAfter = TimeSpan.FromSeconds(1),
                };
            }

            try
            {
                // :: Step 2
                var request = ModelInferRequestDecoder.Decode(message, received);
                timestamps = request.Timestamps;

                // :: Step 3
                var response = await _inference.InferAsync(request, cancellationToken).ConfigureAwait(false);
                version = response.ModelVersion;

                // :: Step 4
                var encoded = ModelInferResponseEncoder.Encode(response);
                response.Timestamps.ResponseSent = Stopwatch.GetTimestamp();
                return (encoded, response.Timestamps);
            }
            finally
            {
                _lifecycle.Exit();
            }
        }
        catch (Exception exception)
        {
            error = exception switch
            {
                _ when cancellationToken.IsCancellationRequested => InferenceError.Canceled,
                InferenceException inference => inference.Error,
                _ => InferenceError.RuntimeFailure,
            };
            throw;
        }
        finally
        {
            // Every infer request is told to the observers (telemetry, SLO) exactly once, whatever its outcome.
            _observers?.RequestCompleted(message.ModelName, version, "grpc", error, timestamps);
        }
    }

    private void AuthorizeManagement(ServerCallContext context)
    {
        var options = _options.CurrentValue;
        if (!options.EnableModelManagement)
        {
            Log.ManagementDenied(_logger, context.Method, context.Peer, "management disabled");
            throw new InferenceException(InferenceError.Unauthorized,
                "model management is disabled on this server; start it with management enabled and a token to load or unload models");
        }

        var expected = options.ManagementToken;
        var header = context.RequestHeaders.GetValue("authorization");
        const string Scheme = "Bearer ";
        if (string.IsNullOrEmpty(expected) || header is null || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()), Encoding.UTF8.GetBytes(expected)))
        {
            Log.ManagementDenied(_logger, context.Method, context.Peer, header is null ? "no authorization metadata" : "wrong token");
            throw new InferenceException(InferenceError.Unauthorized,
                "authorization: a valid management token is required ('authorization: Bearer <token>' metadata)");
        }
    }

    private Task<T> Guard<T>(ServerCallContext context, Func<T> call)
    {
        try
        {
            return Task.FromResult(call());
        }
        catch (Exception exception)
        {
            throw ToRpcException(exception, context, operation: context.Method[(context.Method.LastIndexOf('/') + 1)..]);
        }
    }

    private RpcException ToRpcException(Exception exception, ServerCallContext context, string operation, string? modelName = null)
    {
        var (error, message, retryAfter) = Classify(exception, context.CancellationToken, operation, modelName);
        var trailers = new Metadata();
        if (retryAfter is { } delay)
        {
            var seconds = Math.Max(1, (long)Math.Ceiling(delay.TotalSeconds));
            trailers.Add("retry-after", seconds.ToString(CultureInfo.InvariantCulture));
        }

        return new RpcException(new Status(error.ToGrpcStatus(), message), trailers, message);
    }

    /// <summary>The one place an exception becomes an error class, a client-safe message and a retry hint, and is logged.</summary>
    private (InferenceError Error, string Message, TimeSpan? RetryAfter) Classify(
        Exception exception, CancellationToken callCancelled, string operation, string? modelName)
    {
        switch (exception)
        {
            case InferenceException { Error: InferenceError.Canceled } canceled:
                Log.RequestCanceled(_logger, operation);
                return (InferenceError.Canceled, canceled.Message, null);
            case OperationCanceledException when callCancelled.IsCancellationRequested:
                Log.RequestCanceled(_logger, operation);
                return (InferenceError.Canceled, "the client cancelled the request", null);
            case InferenceException inference:
                Log.RequestRejected(_logger, operation, inference.Error, inference.Message);
                var retry = inference.RetryAfter ?? (inference.Error.IsRetryable() ? TimeSpan.FromSeconds(1) : null);
                return (inference.Error, inference.Message, inference.Error.IsRetryable() ? retry : null);
            default:
                Log.RequestFailed(_logger, exception, operation);
                var subject = modelName is { Length: > 0 } ? $" for model '{ModelInferRequestDecoder.Printable(modelName)}'" : "";
                return (InferenceError.RuntimeFailure, $"{operation}: internal error{subject}; see the server log", null);
        }
    }

    /// <summary>Reads the one header from the HTTP request: <see cref="ServerCallContext.RequestHeaders"/> would copy them all, per call.</summary>
    private static bool WantsTiming(ServerCallContext context) =>
        context.GetHttpContext().Request.Headers.TryGetValue(TimingHeader, out var value)
        && string.Equals(value.ToString(), "true", StringComparison.OrdinalIgnoreCase);

    private static void AddTimingTrailers(Metadata trailers, RequestTimestamps timestamps)
    {
        trailers.Add("sluice-queue-us", Microseconds(timestamps.QueueDuration));
        trailers.Add("sluice-compute-input-us", Microseconds(timestamps.ComputeInputDuration));
        trailers.Add("sluice-compute-infer-us", Microseconds(timestamps.ComputeInferDuration));
        trailers.Add("sluice-compute-output-us", Microseconds(timestamps.ComputeOutputDuration));
        trailers.Add("sluice-batch-size", timestamps.BatchSize.ToString(CultureInfo.InvariantCulture));
        trailers.Add("sluice-admit-us", Microseconds(timestamps.AdmitDuration));
        trailers.Add("sluice-server-us", Microseconds(timestamps.EndToEndDuration));
    }

    private static string Microseconds(TimeSpan duration) =>
        (duration.Ticks / TimeSpan.TicksPerMicrosecond).ToString(CultureInfo.InvariantCulture);

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
