using System.Diagnostics;
using Sluice.Core.Inference;
using Sluice.Core.Serving;

namespace Sluice.Engine.Statistics;

/// <summary>
/// Triton-shaped statistics of one model version. Per request: success (queued → outputs split), queue and compute phases;
/// per executed batch: execution count, inference count (rows) and compute times by batch size. Failures (runner errors, queue
/// timeouts, queue full) count in <c>fail</c>; cancellations count nowhere, as a client going away is not a server failure.
/// </summary>
internal sealed class VersionStatistics(TimeProvider timeProvider)
{
    /// <summary>Guards every field below; taken once per batch or failure, never while running a model.</summary>
    private readonly Lock _lock = new();

    /// <summary>Per-request durations, summed.</summary>
    private Accumulator _success, _fail, _queue, _computeInput, _computeInfer, _computeOutput;

    /// <summary>Rows run, successful ones only.</summary>
    private long _inferenceCount;

    /// <summary>Batches run.</summary>
    private long _executionCount;

    /// <summary>Unix milliseconds of the last inference.</summary>
    private long _lastInference;

    /// <summary>Compute durations per executed batch size.</summary>
    private readonly SortedDictionary<long, BatchAccumulator> _batches = [];

    /// <summary>Records one successfully executed batch and its requests' timestamps.</summary>
    public void RecordBatch(IReadOnlyList<RequestTimestamps> requests, int rows)
    {
        lock (_lock)
        {
            _executionCount++;
            _inferenceCount += rows;
            _lastInference = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
            foreach (var t in requests)
            {
                _success.Add(Between(t.Queued, t.ComputeOutputEnd));
                _queue.Add(t.QueueDuration);
                _computeInput.Add(t.ComputeInputDuration);
                _computeInfer.Add(t.ComputeInferDuration);
                _computeOutput.Add(t.ComputeOutputDuration);
            }

            if (requests.Count > 0)
            {
                var first = requests[0];
                if (!_batches.TryGetValue(rows, out var batch))
                {
                    batch = new BatchAccumulator();
                    _batches[rows] = batch;
                }

                batch.Input.Add(first.ComputeInputDuration);
                batch.Infer.Add(first.ComputeInferDuration);
                batch.Output.Add(first.ComputeOutputDuration);
            }
        }
    }

    /// <summary>Records one failed request and how long it took to fail.</summary>
    public void RecordFailure(TimeSpan duration)
    {
        lock (_lock)
        {
            _fail.Add(duration);
        }
    }

    /// <summary>The statistics in Triton's shape.</summary>
    public ModelStatistics Snapshot(string name, string version)
    {
        lock (_lock)
        {
            return new ModelStatistics(
                name,
                version,
                _lastInference,
                _inferenceCount,
                _executionCount,
                new InferStatistics(
                    _success.ToDuration(), _fail.ToDuration(), _queue.ToDuration(), _computeInput.ToDuration(),
                    _computeInfer.ToDuration(), _computeOutput.ToDuration(), default, default),
                _batches.Select(b => new BatchStatistics(b.Key, b.Value.Input.ToDuration(), b.Value.Infer.ToDuration(), b.Value.Output.ToDuration())).ToList());
        }
    }

    private static TimeSpan Between(long start, long end) =>
        start == 0 || end == 0 || end < start ? TimeSpan.Zero : Stopwatch.GetElapsedTime(start, end);

    private struct Accumulator
    {
        public long Count;
        public long Ns;

        public void Add(TimeSpan duration)
        {
            Count++;
            Ns += (long)(duration.Ticks * 100);
        }

        public readonly StatisticDuration ToDuration() => new(Count, Ns);
    }

    private sealed class BatchAccumulator
    {
        public Accumulator Input;
        public Accumulator Infer;
        public Accumulator Output;
    }
}
