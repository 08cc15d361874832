using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Sluice.Server.Hosting;

namespace Sluice.Server.Grpc;

/// <summary>Registers and maps the KServe v2 / Triton gRPC service (<c>inference.GRPCInferenceService</c>).</summary>
public static class KServeGrpcExtensions
{
    /// <summary>
    /// Adds gRPC with its receive limit taken from <see cref="SluiceServerOptions.MaxRequestBodyBytes"/> (larger messages are
    /// refused with RESOURCE_EXHAUSTED before they are buffered) and detailed errors off. Expects the engine
    /// (<c>AddSluiceEngine</c>) and <see cref="SluiceServerOptions"/> to be registered too.
    /// </summary>
    public static IServiceCollection AddKServeGrpc(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddGrpc();
        services.AddOptions<SluiceServerOptions>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<GrpcServiceOptions>, ConfigureGrpcLimits>());
        return services;
    }

    /// <summary>Maps <c>inference.GRPCInferenceService</c>.</summary>
    public static IEndpointRouteBuilder MapKServeGrpc(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapGrpcService<KServeGrpcService>();
        return endpoints;
    }

    /// <summary>Sets the gRPC message limits from the server options.</summary>
    private sealed class ConfigureGrpcLimits(IOptions<SluiceServerOptions> serverOptions) : IConfigureOptions<GrpcServiceOptions>
    {
        public void Configure(GrpcServiceOptions options)
        {
            var limit = serverOptions.Value.MaxRequestBodyBytes;
            options.MaxReceiveMessageSize = (int)Math.Clamp(limit, 1, int.MaxValue);
            options.MaxSendMessageSize = null;           // responses are sized by the model, not by the client
            options.EnableDetailedErrors = false;        // never send exception text to clients
        }
    }
}
