using System.Diagnostics;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Sluice.Core.Inference;

namespace Sluice.Server.Errors;

/// <summary>The one place each <see cref="InferenceError"/> becomes an HTTP status and a gRPC status code.</summary>
public static class InferenceErrorMapping
{
    /// <summary>The HTTP status for an error.</summary>
    public static int ToHttpStatus(this InferenceError error) => error switch
    {
        InferenceError.InvalidInput => StatusCodes.Status400BadRequest,
        InferenceError.ModelNotFound => StatusCodes.Status404NotFound,
        InferenceError.ModelNotReady => StatusCodes.Status503ServiceUnavailable,
        InferenceError.PayloadTooLarge => StatusCodes.Status413PayloadTooLarge,
        InferenceError.QueueFull => StatusCodes.Status503ServiceUnavailable,
        InferenceError.QueueTimeout => StatusCodes.Status503ServiceUnavailable,
        InferenceError.Draining => StatusCodes.Status503ServiceUnavailable,
        InferenceError.Canceled => 499,   // nginx's "client closed request"; the client is gone and never reads it
        InferenceError.Unauthorized => StatusCodes.Status401Unauthorized,
        InferenceError.LoadFailed => StatusCodes.Status400BadRequest,
        InferenceError.RuntimeFailure => StatusCodes.Status500InternalServerError,
        InferenceError.None => StatusCodes.Status200OK,
        _ => throw new UnreachableException($"Unmapped {nameof(InferenceError)}: {error}"),
    };

    /// <summary>The gRPC status code for an error.</summary>
    public static StatusCode ToGrpcStatus(this InferenceError error) => error switch
    {
        InferenceError.InvalidInput => StatusCode.InvalidArgument,
        InferenceError.ModelNotFound => StatusCode.NotFound,
        InferenceError.ModelNotReady => StatusCode.Unavailable,
        InferenceError.PayloadTooLarge => StatusCode.ResourceExhausted,
        InferenceError.QueueFull => StatusCode.Unavailable,
        InferenceError.QueueTimeout => StatusCode.Unavailable,
        InferenceError.Draining => StatusCode.Unavailable,
        InferenceError.Canceled => StatusCode.Cancelled,
        InferenceError.Unauthorized => StatusCode.Unauthenticated,
        InferenceError.LoadFailed => StatusCode.InvalidArgument,
        InferenceError.RuntimeFailure => StatusCode.Internal,
        InferenceError.None => StatusCode.OK,
        _ => throw new UnreachableException($"Unmapped {nameof(InferenceError)}: {error}"),
    };

    /// <summary>Whether a client should be told to retry later (503 with Retry-After).</summary>
    public static bool IsRetryable(this InferenceError error) =>
        error is InferenceError.QueueFull or InferenceError.QueueTimeout or InferenceError.Draining or InferenceError.ModelNotReady;
}
