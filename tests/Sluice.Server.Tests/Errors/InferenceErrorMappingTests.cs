using Grpc.Core;
using Sluice.Core.Inference;
using Sluice.Server.Errors;

namespace Sluice.Server.Tests.Errors;

public sealed class InferenceErrorMappingTests
{
    public static TheoryData<InferenceError, int, StatusCode, bool> Mappings => new()
    {
        { InferenceError.None, 200, StatusCode.OK, false },
        { InferenceError.InvalidInput, 400, StatusCode.InvalidArgument, false },
        { InferenceError.ModelNotFound, 404, StatusCode.NotFound, false },
        { InferenceError.ModelNotReady, 503, StatusCode.Unavailable, true },
        { InferenceError.PayloadTooLarge, 413, StatusCode.ResourceExhausted, false },
        { InferenceError.QueueFull, 503, StatusCode.Unavailable, true },
        { InferenceError.QueueTimeout, 503, StatusCode.Unavailable, true },
        { InferenceError.Draining, 503, StatusCode.Unavailable, true },
        { InferenceError.Canceled, 499, StatusCode.Cancelled, false },
        { InferenceError.Unauthorized, 401, StatusCode.Unauthenticated, false },
        { InferenceError.LoadFailed, 400, StatusCode.InvalidArgument, false },
        { InferenceError.RuntimeFailure, 500, StatusCode.Internal, false },
    };

    [Theory]
    [MemberData(nameof(Mappings))]
    public void Mapping_EveryError_HasOneHttpAndOneGrpcStatus(InferenceError error, int http, StatusCode grpc, bool retryable)
    {
        Assert.Equal(http, error.ToHttpStatus());
        Assert.Equal(grpc, error.ToGrpcStatus());
        Assert.Equal(retryable, error.IsRetryable());
    }

    [Fact]
    public void Mappings_CoverEveryMember()
    {
        var covered = Mappings.Select(row => (InferenceError)row[0]).ToHashSet();

        Assert.Equal(Enum.GetValues<InferenceError>().ToHashSet(), covered);
    }
}
