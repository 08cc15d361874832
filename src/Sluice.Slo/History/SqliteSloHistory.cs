using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Slo.Evaluation;

namespace Sluice.Slo.History;

/// <summary>
/// The SLO history in an embedded SQLite file (WAL mode): good/total counts per SLO per minute, compacted to hourly rows
/// once older than a day and deleted once older than the longest SLO window, so the file stays bounded. Flushed once a
/// minute by <see cref="SloEvaluationLoop"/> (a kill -9 loses at most the last minute); read back at start by
/// <see cref="Restore"/> so a 30-day window survives restarts.
/// </summary>
/// <remarks>Not thread-safe: the evaluation loop owns it. Each flush and each compaction is one transaction.</remarks>
public sealed class SqliteSloHistory : IDisposable
{
    /// <summary>Minute rows older than this are compacted to hours.</summary>
    public static readonly TimeSpan MinuteRetention = TimeSpan.FromDays(1);

    private readonly SqliteConnection _connection;
    private readonly ILogger _logger;
    private readonly TimeSpan _retention;

    /// <summary>The newest bucket written by the last flush: the next flush rewrites from there (it may have grown).</summary>
    private long _lastFlushedBucket = long.MinValue;

    /// <summary>The hour of the last compaction run by <see cref="Flush"/>.</summary>
    private long _lastCompactedHour = long.MinValue;

    private bool _disposed;

    private SqliteSloHistory(SqliteConnection connection, TimeSpan retention, ILogger logger)
    {
        _connection = connection;
        _retention = retention;
        _logger = logger;
    }

    /// <summary>Opens (creating when missing) the history file.</summary>
    /// <param name="path">The SQLite file.</param>
    /// <param name="longestWindow">The longest SLO window: older rows are deleted.</param>
    /// <param name="logger">Optional logger.</param>
    public static SqliteSloHistory Open(string path, TimeSpan longestWindow, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,   // a closed store must release the file (tests reopen it; the server restarts on it)
        }.ToString());
        try
        {
            connection.Open();
            Execute(connection, """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                CREATE TABLE IF NOT EXISTS minute_counts (
                    slo TEXT NOT NULL, bucket INTEGER NOT NULL, good INTEGER NOT NULL, total INTEGER NOT NULL,
                    PRIMARY KEY (slo, bucket)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS hour_counts (
                    slo TEXT NOT NULL, hour INTEGER NOT NULL, good INTEGER NOT NULL, total INTEGER NOT NULL,
                    PRIMARY KEY (slo, hour)) WITHOUT ROWID;
                """);
            return new SqliteSloHistory(connection, longestWindow + TimeSpan.FromHours(2), logger ?? NullLogger.Instance);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The journal mode in effect ("wal").</summary>
    public string JournalMode => (string)Scalar("PRAGMA journal_mode;")!;

    /// <summary>Row counts, for tests and diagnostics.</summary>
    public (long MinuteRows, long HourRows) CountRows() =>
        ((long)Scalar("SELECT count(*) FROM minute_counts;")!, (long)Scalar("SELECT count(*) FROM hour_counts;")!);

    /// <summary>Loads every stored row into the evaluator (minutes into minute and hour buckets, hours into hour buckets).
    /// Call once, before the first evaluation.</summary>
    public void Restore(SloEvaluator evaluator)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(evaluator);
        int minutes = 0, hours = 0;
        using (var command = _connection.CreateCommand())
        {
            command.CommandText = "SELECT slo, bucket, good, total FROM minute_counts ORDER BY bucket;";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                evaluator.RestoreMinute(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
                _lastFlushedBucket = Math.Max(_lastFlushedBucket, reader.GetInt64(1));
                minutes++;
            }
        }

        using (var command = _connection.CreateCommand())
        {
            command.CommandText = "SELECT slo, hour, good, total FROM hour_counts ORDER BY hour;";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                evaluator.RestoreHour(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
                hours++;
            }
        }

        _logger.HistoryRestored(minutes, hours);
    }

    /// <summary>Writes the evaluator's minute buckets since the last flush (upserting absolute counts, so rewriting a
    /// minute is harmless) and then compacts. Call after an evaluation, once a minute.</summary>
    /// <returns>The number of minute rows written.</returns>
    public int Flush(SloEvaluator evaluator, DateTimeOffset now)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(evaluator);
        long current = BucketClock.BucketOf(now);
        long from = _lastFlushedBucket == long.MinValue ? current - CountBuckets.MinuteCapacity + 1 : _lastFlushedBucket;
        var rows = evaluator.ReadMinutes(from, current);
        using (var transaction = _connection.BeginTransaction())
        {
            using var command = _connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = """
                INSERT INTO minute_counts (slo, bucket, good, total) VALUES ($slo, $bucket, $good, $total)
                ON CONFLICT (slo, bucket) DO UPDATE SET good = excluded.good, total = excluded.total;
                """;
            var slo = command.Parameters.Add("$slo", SqliteType.Text);
            var bucket = command.Parameters.Add("$bucket", SqliteType.Integer);
            var good = command.Parameters.Add("$good", SqliteType.Integer);
            var total = command.Parameters.Add("$total", SqliteType.Integer);
            foreach (var row in rows)
            {
                slo.Value = row.Slo;
                bucket.Value = row.Bucket;
                good.Value = row.Good;
                total.Value = row.Total;
                command.ExecuteNonQuery();
            }

            transaction.Commit();
        }

        _lastFlushedBucket = current;
        long hour = Math.DivRem(current, 60).Quotient;
        if (hour != _lastCompactedHour)
        {
            Compact(now);   // once an hour is enough: only whole hours move
            _lastCompactedHour = hour;
        }
        _logger.HistoryFlushed(rows.Count);
        return rows.Count;
    }

    /// <summary>Moves whole hours of minute rows older than a day into hour rows, and deletes rows older than the retention.</summary>
    public void Compact(DateTimeOffset now)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long currentHour = Math.DivRem(BucketClock.BucketOf(now), 60).Quotient;
        long cutoffBucket = (currentHour - (long)MinuteRetention.TotalHours) * 60;
        long oldestHour = currentHour - (long)Math.Ceiling(_retention.TotalHours);
        using var transaction = _connection.BeginTransaction();
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO hour_counts (slo, hour, good, total)
                SELECT slo, bucket / 60, sum(good), sum(total) FROM minute_counts WHERE bucket < $cutoff GROUP BY slo, bucket / 60
            ON CONFLICT (slo, hour) DO UPDATE SET good = good + excluded.good, total = total + excluded.total;
            DELETE FROM minute_counts WHERE bucket < $cutoff;
            DELETE FROM hour_counts WHERE hour < $oldest;
            """;
        command.Parameters.AddWithValue("$cutoff", cutoffBucket);
        command.Parameters.AddWithValue("$oldest", oldestHour);
        command.ExecuteNonQuery();
        transaction.Commit();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _connection.Dispose();
        }
    }

    private object? Scalar(string sql)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
