using Sluice.Core.Serving;

namespace Sluice.Server.Telemetry;

/// <summary>Telemetry's <see cref="IInferenceObserver"/>: metrics, request spans and live profiling sampling from one place.</summary>
internal sealed class TelemetryObserver(InferenceMetrics metrics, LiveProfiler? liveProfiler = null) : IInferenceObserver
{
    public void RequestCompleted(in RequestCompletion completion)
    {
        metrics.RequestCompleted(in completion);
        RequestTracing.Record(in completion);
    }

    public void BatchExecuted(in BatchExecution execution)
    {
        metrics.BatchExecuted(in execution);
        liveProfiler?.BatchExecuted(in execution);
    }
}
