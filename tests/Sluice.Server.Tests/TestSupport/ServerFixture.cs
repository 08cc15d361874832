using Sluice.Core.Tensors;

namespace Sluice.Server.Tests.TestSupport;

/// <summary>One server shared by a test class: add_one (auto-completed config), simple (Triton config.pbtxt), identity_int64 and MiniLM.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private readonly TestRepository _repository = new TestRepository()
        .WithAddOne()
        .WithTritonAddSub()
        .WithIdentity("identity_int64", DataType.Int64)
        .WithIdentity("identity_fp16", DataType.Fp16)
        .WithIdentity("identity_bytes", DataType.Bytes)
        .WithMiniLm();

    internal SluiceServer Server { get; private set; } = null!;

    public HttpClient Client => Server.Client;

    public string RepositoryPath => _repository.Path;

    public async Task InitializeAsync() =>
        Server = await SluiceServer.StartAsync(_repository, models: ["add_one", "simple", "identity_int64", "identity_fp16", "identity_bytes", "minilm"]);

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _repository.Dispose();
    }
}
