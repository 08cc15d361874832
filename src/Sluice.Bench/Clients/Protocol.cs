namespace Sluice.Bench.Clients;

/// <summary>The wire protocol a run uses.</summary>
public enum BenchProtocol
{
    /// <summary>KServe v2 HTTP with JSON tensors.</summary>
    Http,
    /// <summary>KServe v2 HTTP with the binary tensor extension (inputs and outputs as raw bytes).</summary>
    HttpBinary,
    /// <summary>KServe v2 / Triton gRPC (<c>inference.GRPCInferenceService/ModelInfer</c>).</summary>
    Grpc,
    /// <summary>A bare runtime session in this process: no server at all.</summary>
    InProcess,
}
