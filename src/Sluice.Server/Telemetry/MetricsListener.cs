using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Sluice.Server.Telemetry;

/// <summary>The metrics port's Kestrel listener: tags its connections so the pipeline serves <c>/metrics</c> there and nothing else.</summary>
internal sealed class MetricsListener
{
    private const string ItemKey = "Sluice.Metrics";

    /// <summary>The listener's options, to learn the bound port when 0 was asked for; null when telemetry is off.</summary>
    public ListenOptions? Options { get; private set; }

    /// <summary>Configures the listener (HTTP/1.1) and tags its connections.</summary>
    public void Configure(ListenOptions listen)
    {
        listen.Protocols = HttpProtocols.Http1;
        listen.Use(next => connection =>
        {
            connection.Items[ItemKey] = true;
            return next(connection);
        });
        Options = listen;
    }

    /// <summary>True when the request arrived on the metrics listener.</summary>
    public static bool IsMetrics(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(ItemKey) == true;
}
