namespace Sluice.Bench.Clients;

/// <summary>The server's own timing of one request (Sluice's <c>Sluice-Timing</c> headers or <c>sluice-timing</c> trailers).</summary>
/// <param name="QueueUs">Time waiting in the model's queue.</param>
/// <param name="ComputeInputUs">Batch assembly and input binding.</param>
/// <param name="ComputeInferUs">The runtime's execution.</param>
/// <param name="ComputeOutputUs">Copying and splitting outputs.</param>
public readonly record struct ServerTiming(long QueueUs, long ComputeInputUs, long ComputeInferUs, long ComputeOutputUs)
{
    /// <summary>Compute input + infer + output: the SLO phase <c>compute</c>.</summary>
    public long ComputeUs => ComputeInputUs + ComputeInferUs + ComputeOutputUs;
}

/// <summary>How one request ended.</summary>
/// <param name="Success">True when the server answered with a result.</param>
/// <param name="Status">The status for the error table: <c>200</c>, <c>503</c>, <c>grpc Unavailable</c>, <c>connection error</c>...</param>
/// <param name="Timing">The server's per-request timing when it sent one.</param>
public readonly record struct InferOutcome(bool Success, string Status, ServerTiming? Timing)
{
    /// <summary>A failure with <paramref name="status"/>.</summary>
    public static InferOutcome Failed(string status) => new(false, status, null);
}

/// <summary>Sends one prepared inference request to a target, again and again, from many tasks at once.</summary>
public interface IInferClient : IDisposable
{
    /// <summary>The protocol, for reports: <c>http</c>, <c>http-binary</c>, <c>grpc</c> or <c>in-process</c>.</summary>
    string Protocol { get; }

    /// <summary>Sends the request once and waits for the whole response. Never throws for a failed request; returns the outcome.</summary>
    ValueTask<InferOutcome> InferAsync(CancellationToken cancellationToken);
}
