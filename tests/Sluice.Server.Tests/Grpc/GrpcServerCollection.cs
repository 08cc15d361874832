namespace Sluice.Server.Tests.Grpc;

/// <summary>The test classes that share one real server (loading MiniLM once).</summary>
[CollectionDefinition(Name)]
public sealed class GrpcServerCollection : ICollectionFixture<GrpcServerFixture>
{
    public const string Name = "grpc-server";
}
