using Microsoft.Extensions.Logging.Abstractions;
using Sluice.Core.Configuration;
using Sluice.Core.Serving;
using Sluice.Core.Tensors;
using Sluice.Engine.Scheduling;
using Sluice.Engine.Statistics;
using Sluice.Engine.Tests.TestSupport;
using Sluice.Engine.Validation;

namespace Sluice.Engine.Tests.Telemetry;

/// <summary>The batching loop tells every <see cref="IInferenceObserver"/> of each executed batch, once, with its size and hit.</summary>
public sealed class BatchObserverTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(20);

    private sealed class RecordingObserver : IInferenceObserver
    {
        public List<BatchExecution> Batches { get; } = [];

        /// <summary>Completed at the first batch: the loop tells observers after completing the requests, so tests wait for it.</summary>
        public TaskCompletionSource FirstBatch { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void RequestCompleted(in RequestCompletion completion)
        {
        }

        public void BatchExecuted(in BatchExecution execution)
        {
            lock (Batches) Batches.Add(execution);
            FirstBatch.TrySetResult();
        }
    }

    private sealed class ThrowingObserver : IInferenceObserver
    {
        public void RequestCompleted(in RequestCompletion completion) => throw new InvalidOperationException("observer bug");

        public void BatchExecuted(in BatchExecution execution) => throw new InvalidOperationException("observer bug");
    }

    private static ModelConfig Config(int[] preferred) => new()
    {
        Name = "m",
        MaxBatchSize = 8,
        Inputs = [new TensorConfig("INPUT0", DataType.Fp32, [4])],
        Outputs = [new TensorConfig("OUTPUT0", DataType.Fp32, [4])],
        DynamicBatching = new DynamicBatchingConfig { PreferredBatchSizes = preferred, MaxQueueDelay = TimeSpan.Zero },
    };

    [Theory]
    [InlineData(new int[0], 3, false)]      // no preferred sizes: only the max (8) is a hit
    [InlineData(new[] { 3 }, 3, true)]
    [InlineData(new[] { 2, 4 }, 3, false)]
    public async Task Execute_OneBatch_ObserversToldOnceWithSizeAndHit(int[] preferred, int rows, bool hit)
    {
        var config = Config(preferred);
        var runner = new FakeRunner();
        var recording = new RecordingObserver();
        var loop = new BatchingLoop("m", 1, config, [runner], TimeProvider.System, NullLogger.Instance, new RequestCounters(),
            new VersionStatistics(TimeProvider.System), [new ThrowingObserver(), recording]);
        loop.Start();
        try
        {
            var validator = new RequestValidator(config);
            var request = Requests.AddOne("m", rows: rows);
            var validated = validator.Validate(request);

            var response = await loop.Enqueue(request, validated.OrderedInputs, validated.OutputNames, validated.Rows, CancellationToken.None)
                .Completion.Task.WaitAsync(Safety);

            await recording.FirstBatch.Task.WaitAsync(Safety);

            Assert.Equal(rows, response.Timestamps.BatchSize);   // a throwing observer does not fail the batch
            var batch = Assert.Single(recording.Batches);
            Assert.Equal(("m", "1", rows, 8, hit), (batch.ModelName, batch.ModelVersion, batch.BatchSize, batch.MaxBatchSize, batch.IsPreferredSize));
            Assert.False(batch.Backlogged);
            Assert.Equal(response.Timestamps.ComputeInferDuration, batch.ComputeInfer);
            Assert.Equal(response.Timestamps.ComputeInputDuration, batch.ComputeInput);
        }
        finally
        {
            await loop.StopAsync(TimeSpan.FromSeconds(5));
            await loop.DisposeAsync();
        }
    }
}
