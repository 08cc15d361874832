namespace Sluice.Core.Inference;

/// <summary>Why a request produced no response. Mapped to HTTP status, gRPC status and SLO outcome in one place each.</summary>
public enum InferenceError
{
    /// <summary>No error.</summary>
    None = 0,
    /// <summary>The request is malformed: bad JSON, unknown input, wrong shape, datatype or size.</summary>
    InvalidInput,
    /// <summary>No model (or model version) of that name is in the repository.</summary>
    ModelNotFound,
    /// <summary>The model exists but is not loaded and ready.</summary>
    ModelNotReady,
    /// <summary>The request body is larger than the configured limit.</summary>
    PayloadTooLarge,
    /// <summary>The model's queue is at its max_queue_size.</summary>
    QueueFull,
    /// <summary>The request waited in the queue longer than its timeout and was rejected (timeout_action REJECT).</summary>
    QueueTimeout,
    /// <summary>The server is shutting down and accepts no new work.</summary>
    Draining,
    /// <summary>The caller went away or cancelled; not a server failure.</summary>
    Canceled,
    /// <summary>A management call without the configured token, or with management disabled.</summary>
    Unauthorized,
    /// <summary>The request conflicts with the current state (e.g. load of a model whose files are broken).</summary>
    LoadFailed,
    /// <summary>The backend failed while running the model.</summary>
    RuntimeFailure,
}

/// <summary>Thrown where a request cannot be served; carries the <see cref="InferenceError"/> that decides its status codes.</summary>
/// <remarks>The message goes to the client as is: it names the offending field and never holds paths, types or stack traces.</remarks>
public sealed class InferenceException(InferenceError error, string message, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The classification of the failure.</summary>
    public InferenceError Error { get; } = error;

    /// <summary>For <see cref="InferenceError.QueueFull"/> and similar: how long a client should wait before retrying.</summary>
    public TimeSpan? RetryAfter { get; init; }
}
