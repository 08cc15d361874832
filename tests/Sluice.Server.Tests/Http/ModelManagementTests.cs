using System.Net;
using System.Net.Http.Headers;
using Sluice.Engine.Hosting;
using Sluice.Server.Tests.TestSupport;
using static Sluice.Server.Tests.TestSupport.KServeHttp;

namespace Sluice.Server.Tests.Http;

public sealed class ModelManagementTests
{
    private const string Token = "s3cret-token";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static Task<SluiceServer> StartAsync(TestRepository repository) =>
        SluiceServer.StartAsync(repository, options =>
        {
            options.EnableModelManagement = true;
            options.ManagementToken = Token;
        }, ModelControlMode.Explicit);

    private static HttpRequestMessage Post(string path, string? token)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return request;
    }

    [Theory]
    [InlineData(null)]
    [InlineData("wrong")]
    [InlineData("s3cret-token-and-more")]
    [InlineData("")]
    public async Task Load_WithoutTheRightToken_Answers401(string? token)
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await StartAsync(repository);

        using var response = await server.Client.SendAsync(Post("v2/repository/models/add_one/load", token)).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Contains("Authorization", await ReadErrorAsync(response));
        using var ready = await server.Client.GetAsync("v2/models/add_one/ready").WaitAsync(Timeout);
        Assert.NotEqual(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task LoadAndUnload_WithToken_ChangeModelReadiness()
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await StartAsync(repository);

        using var load = await server.Client.SendAsync(Post("v2/repository/models/add_one/load", Token)).WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.OK, load.StatusCode);
        using var readyAfterLoad = await server.Client.GetAsync("v2/models/add_one/ready").WaitAsync(Timeout);
        Assert.Equal(HttpStatusCode.OK, readyAfterLoad.StatusCode);
        using var infer = await server.Client.PostAsync("v2/models/add_one/infer",
            Json("""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}""")).WaitAsync(Timeout);
        var result = await ReadInferAsync(infer);
        Assert.Equal(new[] { 2f, 3, 4, 5 }, result.Floats("OUTPUT0"));

        using var unload = await server.Client.SendAsync(Post("v2/repository/models/add_one/unload", Token)).WaitAsync(Timeout);

        Assert.Equal(HttpStatusCode.OK, unload.StatusCode);
        using var readyAfterUnload = await server.Client.GetAsync("v2/models/add_one/ready").WaitAsync(Timeout);
        Assert.NotEqual(HttpStatusCode.OK, readyAfterUnload.StatusCode);
    }

    [Theory]
    [InlineData("v2/repository/models/missing/load", HttpStatusCode.NotFound, "missing")]
    [InlineData("v2/repository/models/..%2fadd_one/load", HttpStatusCode.BadRequest, "model_name")]
    [InlineData("v2/repository/models/%2e%2e%5cx/unload", HttpStatusCode.BadRequest, "model_name")]
    public async Task Load_BadModelName_Answers4xxNamingIt(string path, HttpStatusCode expected, string text)
    {
        using var repository = new TestRepository().WithAddOne();
        await using var server = await StartAsync(repository);

        using var response = await server.Client.SendAsync(Post(path, Token)).WaitAsync(Timeout);

        Assert.Equal(expected, response.StatusCode);
        Assert.Contains(text, await ReadErrorAsync(response));
    }
}
