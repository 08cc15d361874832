using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sluice.Slo.Evaluation;
using Sluice.Slo.History;

namespace Sluice.Server.Slo;

/// <summary>Where the SLO history lives: <c>&lt;data dir&gt;/slo-history.db</c>.</summary>
/// <param name="Path">The SQLite file, absolute.</param>
internal sealed record SloHistoryLocation(string Path)
{
    public const string FileName = "slo-history.db";

    public static SloHistoryLocation In(string dataDirectory) => new(System.IO.Path.Combine(System.IO.Path.GetFullPath(dataDirectory), FileName));
}

/// <summary>
/// Runs the SLO engine for the life of the host.
/// </summary>
/// <remarks>
/// <list type="number">
/// <item>Start: open the SQLite history and restore it into the evaluator (before the first evaluation, so windows survive
/// restarts), then evaluate once so <c>GET /v2/slo</c> answers from the start. A history that cannot be opened is logged and
/// the engine runs on this process's events alone: serving never depends on it.</item>
/// <item>Run: <see cref="SloEvaluationLoop"/> evaluates every interval and flushes the history once a minute.</item>
/// <item>Stop: the loop evaluates and flushes once more; the history is closed. This service is registered before the
/// lifetime service, so it stops after the drain and counts the drained requests too.</item>
/// </list>
/// </remarks>
internal sealed class SloEvaluationService(
    SloEvaluator evaluator,
    SloMetrics metrics,
    SloSpecSource source,
    SloHistoryLocation location,
    SloHostingSettings settings,
    ILoggerFactory loggerFactory) : BackgroundService
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<SloEvaluationService>();

    /// <summary>The open history, or null when it could not be opened. Owned by this service; closed when the loop ends.</summary>
    private SqliteSloHistory? _history;

    /// <summary>The instruments exist for as long as the service (they are created when it is).</summary>
    public SloMetrics Metrics { get; } = metrics;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // :: Step 1: restore, then evaluate once.
        var longestWindow = source.Slos.Count == 0 ? TimeSpan.FromHours(1) : source.Slos.Max(s => s.Window);
        try
        {
            _history = SqliteSloHistory.Open(location.Path, longestWindow, loggerFactory.CreateLogger<SqliteSloHistory>());
            _history.Restore(evaluator);
        }
        catch (Exception e) when (e is SqliteException or IOException or UnauthorizedAccessException)
        {
            _history?.Dispose();
            _history = null;
            _logger.HistoryUnavailable(location.Path, e);
        }

        evaluator.Evaluate();
        _logger.SloEngineStarted(source.Slos.Count, source.Source, location.Path);
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // :: Steps 2 and 3.
        try
        {
            var loop = new SloEvaluationLoop(evaluator, _history, settings.Clock, settings.EvaluationInterval,
                loggerFactory.CreateLogger<SloEvaluationLoop>());
            await loop.RunAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            _history?.Dispose();
            _history = null;
        }
    }
}
