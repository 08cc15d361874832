using Microsoft.Extensions.Logging;
using Sluice.Core.Inference;

namespace Sluice.Server.Grpc;

public sealed partial class KServeGrpcService
{
    /// <summary>Event ids of the gRPC protocol: the 5200 block (HTTP has the 5000s, hosting the 5100s; see <c>EventIds</c>).</summary>
    internal static class GrpcEventIds
    {
        public const int RequestRejected = 5200;
        public const int RequestCanceled = 5201;
        public const int RequestFailed = 5202;
        public const int StreamCanceled = 5203;
        public const int ModelLoadRequested = 5204;
        public const int ModelUnloadRequested = 5205;
        public const int ManagementDenied = 5206;
    }

    private static partial class Log
    {
        [LoggerMessage(GrpcEventIds.RequestRejected, LogLevel.Debug, "gRPC {Operation} rejected with {Error}: {Reason}")]
        public static partial void RequestRejected(ILogger logger, string operation, InferenceError error, string reason);

        [LoggerMessage(GrpcEventIds.RequestCanceled, LogLevel.Debug, "gRPC {Operation} cancelled by the client.")]
        public static partial void RequestCanceled(ILogger logger, string operation);

        [LoggerMessage(GrpcEventIds.RequestFailed, LogLevel.Error, "gRPC {Operation} failed unexpectedly.")]
        public static partial void RequestFailed(ILogger logger, Exception exception, string operation);

        [LoggerMessage(GrpcEventIds.StreamCanceled, LogLevel.Debug, "gRPC inference stream cancelled by the client.")]
        public static partial void StreamCanceled(ILogger logger);

        [LoggerMessage(GrpcEventIds.ManagementDenied, LogLevel.Warning, "Refused gRPC management call {Method} from {Peer}: {Reason}")]
        public static partial void ManagementDenied(ILogger logger, string method, string peer, string reason);

        [LoggerMessage(GrpcEventIds.ModelLoadRequested, LogLevel.Information, "Model '{ModelName}' loaded through gRPC.")]
        public static partial void ModelLoadRequested(ILogger logger, string modelName);

        [LoggerMessage(GrpcEventIds.ModelUnloadRequested, LogLevel.Information, "Model '{ModelName}' unloaded through gRPC.")]
        public static partial void ModelUnloadRequested(ILogger logger, string modelName);
    }
}
