using Microsoft.Extensions.Logging;

namespace Sluice.Engine;

/// <summary>The engine's telemetry log messages (event ids 5000s).</summary>
internal static partial class Log
{
    /// <summary>Event id of <see cref="ObserverFailed"/>.</summary>
    private const int ObserverFailedId = 5000;

    [LoggerMessage(ObserverFailedId, LogLevel.Warning, "The inference observer '{Observer}' threw; the batch result stands.")]
    public static partial void ObserverFailed(this ILogger logger, string observer, Exception exception);
}
