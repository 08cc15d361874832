using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Slo.History;

namespace Sluice.Slo.Evaluation;

/// <summary>
/// The periodic work of the SLO engine: evaluate every <c>interval</c>, flush the history once a minute. The server runs
/// <see cref="RunAsync"/> from a BackgroundService (after calling <see cref="SqliteSloHistory.Restore"/>).
/// </summary>
public sealed class SloEvaluationLoop(
    SloEvaluator evaluator, SqliteSloHistory? history, TimeProvider timeProvider, TimeSpan interval, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    /// <summary>Evaluates and flushes until cancelled; flushes once more on the way out.</summary>
    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var lastFlush = timeProvider.GetUtcNow();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(interval, timeProvider, stoppingToken).ConfigureAwait(false);
                Tick(ref lastFlush);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: fall through to the final flush.
        }

        try
        {
            evaluator.Evaluate();   // move the last counts into the buckets before the final flush
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _logger.EvaluationFailed(e);
        }

        FlushSafely(timeProvider.GetUtcNow());
    }

    private void Tick(ref DateTimeOffset lastFlush)
    {
        try
        {
            evaluator.Evaluate();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _logger.EvaluationFailed(e);
        }

        var now = timeProvider.GetUtcNow();
        if (now - lastFlush >= TimeSpan.FromMinutes(1))
        {
            FlushSafely(now);
            lastFlush = now;
        }
    }

    private void FlushSafely(DateTimeOffset now)
    {
        if (history is null)
        {
            return;
        }

        try
        {
            history.Flush(evaluator, now);
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or InvalidOperationException)
        {
            _logger.HistoryFlushFailed(e);
        }
    }
}
