using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Sluice.Core.Inference;
using Sluice.Core.Serving;

namespace Sluice.Server.Telemetry;

/// <summary>
/// What the protocol endpoints call once per inference request, after its response was written: tells every registered
/// <see cref="IInferenceObserver"/> (telemetry, the SLO engine). An observer that throws is logged and does not fail the request.
/// </summary>
public sealed class InferenceObservers(IEnumerable<IInferenceObserver> observers, ILogger<InferenceObservers> logger)
{
    private readonly IInferenceObserver[] _observers = [.. observers];

    /// <summary>True when at least one observer is registered.</summary>
    public bool Any => _observers.Length > 0;

    /// <summary>Tells every observer of one finished request; stamps <see cref="RequestTimestamps.ResponseSent"/> when unset.</summary>
    public void RequestCompleted(string modelName, string? modelVersion, string protocol, InferenceError error, RequestTimestamps timestamps)
    {
        if (_observers.Length == 0)
        {
            return;
        }

        if (timestamps.ResponseSent == 0)
        {
            timestamps.ResponseSent = Stopwatch.GetTimestamp();
        }

        var completion = new RequestCompletion(modelName, modelVersion ?? "", protocol, error, timestamps);
        foreach (var observer in _observers)
        {
            try
            {
                observer.RequestCompleted(in completion);
            }
            catch (Exception exception)
            {
                logger.ObserverFailed(observer.GetType().Name, exception);
            }
        }
    }
}
