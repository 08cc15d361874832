using System.Net;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Sluice.Server.Http;

namespace Sluice.Server.Hosting;

/// <summary>Which of the two Kestrel listeners a connection arrived on.</summary>
internal enum ListenerKind
{
    /// <summary>The KServe v2 HTTP port (HTTP/1.1 and h2c).</summary>
    Http = 1,
    /// <summary>The gRPC port (HTTP/2 only).</summary>
    Grpc = 2,
}

/// <summary>The two listeners' options, kept to learn the ports Kestrel bound when 0 was asked for.</summary>
internal sealed class SluiceListeners
{
    public ListenOptions? Http { get; set; }
    public ListenOptions? Grpc { get; set; }

    /// <summary>The connection item key under which a connection's <see cref="ListenerKind"/> is stored.</summary>
    public const string ItemKey = "Sluice.Listener";

    /// <summary>Tags every connection of <paramref name="options"/> with its listener kind.</summary>
    public static void Tag(ListenOptions options, ListenerKind kind) =>
        options.Use(next => connection =>
        {
            connection.Items[ItemKey] = kind;
            return next(connection);
        });

    /// <summary>The listener of a request's connection, or null when it is unknown (e.g. an in-memory test server).</summary>
    public static ListenerKind? Of(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ItemKey, out var kind) == true ? kind as ListenerKind? : null;

    /// <summary>
    /// Middleware (after routing): the KServe v2 HTTP endpoints answer only on the HTTP listener and gRPC methods only on the
    /// gRPC listener; anything else gets 404.
    /// </summary>
    public static Task FilterAsync(HttpContext context, RequestDelegate next)
    {
        var listener = Of(context);
        if (listener is null)
        {
            return next(context);
        }

        // gRPC's own fallback for unknown methods carries no method metadata but must still answer with a gRPC status.
        var isGrpc = context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>() is not null
            || (listener == ListenerKind.Grpc && context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true);
        if (isGrpc == (listener == ListenerKind.Grpc))
        {
            return next(context);
        }

        return HttpErrors.WriteAsync(context, StatusCodes.Status404NotFound,
            isGrpc ? "gRPC is served on the gRPC port" : "the KServe v2 HTTP endpoints are served on the HTTP port");
    }

    internal static IPAddress ParseAddress(string address) => address switch
    {
        "*" => IPAddress.Any,
        "localhost" => IPAddress.Loopback,
        _ => IPAddress.Parse(address),
    };
}
