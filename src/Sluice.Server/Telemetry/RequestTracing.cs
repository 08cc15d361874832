using System.Diagnostics;
using Sluice.Core.Inference;
using Sluice.Core.Serving;

namespace Sluice.Server.Telemetry;

/// <summary>
/// One span per inference request (ActivitySource <see cref="SourceName"/>), with a child span per phase (queue, compute_input,
/// compute_infer, compute_output), built after the fact from the request's timestamps, so the request path pays nothing while
/// no one listens. The parent is the current activity: ASP.NET Core's request activity, which carries the caller's W3C
/// <c>traceparent</c> for HTTP and gRPC alike.
/// </summary>
public static class RequestTracing
{
    /// <summary>The activity source name.</summary>
    public const string SourceName = "Sluice";

    private static readonly ActivitySource Source = new(SourceName);

    /// <summary>Records the spans of one finished request, if anyone listens.</summary>
    public static void Record(in RequestCompletion completion)
    {
        if (!Source.HasListeners())
        {
            return;
        }

        var t = completion.Timestamps;
        if (t.Received == 0)
        {
            return;
        }

        // Stopwatch ticks to wall-clock time: both clocks read now, once.
        var nowTicks = Stopwatch.GetTimestamp();
        var nowTime = DateTimeOffset.UtcNow;
        DateTimeOffset At(long ticks) => nowTime - Stopwatch.GetElapsedTime(ticks, nowTicks);

        var parent = Activity.Current?.Context ?? default;
        using var request = Source.StartActivity("infer " + completion.ModelName, ActivityKind.Internal, parent, startTime: At(t.Received));
        if (request is null)
        {
            return;
        }

        request.SetTag("sluice.model", completion.ModelName);
        request.SetTag("sluice.model_version", completion.ModelVersion);
        request.SetTag("sluice.protocol", completion.Protocol);
        request.SetTag("sluice.batch_size", t.BatchSize);
        if (completion.Error != InferenceError.None)
        {
            request.SetStatus(completion.Error == InferenceError.Canceled ? ActivityStatusCode.Unset : ActivityStatusCode.Error, completion.Error.ToString());
            request.SetTag("sluice.error", completion.Error.ToString());
        }

        Phase(request, "queue", t.Queued, t.BatchStart);
        Phase(request, "compute_input", t.BatchStart, t.ComputeInputEnd);
        Phase(request, "compute_infer", t.ComputeInputEnd, t.ComputeInferEnd);
        Phase(request, "compute_output", t.ComputeInferEnd, t.ComputeOutputEnd);
        request.SetEndTime((t.ResponseSent != 0 ? At(t.ResponseSent) : nowTime).UtcDateTime);

        void Phase(Activity parentSpan, string name, long start, long end)
        {
            if (start == 0 || end == 0 || end < start)
            {
                return;
            }

            using var phase = Source.StartActivity(name, ActivityKind.Internal, parentSpan.Context, startTime: At(start));
            phase?.SetEndTime(At(end).UtcDateTime);
        }
    }
}
