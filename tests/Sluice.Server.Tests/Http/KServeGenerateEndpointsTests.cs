using System.Text.Json.Nodes;
using Sluice.Server.Tests.OpenAi;

namespace Sluice.Server.Tests.Http;

/// <summary>Triton's generate extension over tiny-llama: the same text as the OpenAI API, streamed or whole, and KServe errors.</summary>
[Collection(OpenAiServerCollection.Name)]
public sealed class KServeGenerateEndpointsTests(OpenAiServerFixture fixture)
{
    private const string Prompt = "The quick brown fox";

    [Fact]
    public async Task Generate_Greedy_TextOutputEqualsTheOpenAiCompletion()
    {
        var (_, completion, _) = await OpenAiHttp.PostAsync(fixture.Client, "v1/completions",
            new { model = "tiny-llama", prompt = Prompt, max_tokens = 9, temperature = 0, ignore_eos = true });

        var (status, body, response) = await OpenAiHttp.PostAsync(fixture.Client, "v2/models/tiny-llama/generate",
            new { id = "req-1", text_input = Prompt, parameters = new { max_tokens = 9, temperature = 0, ignore_eos = true } });

        Assert.Equal(200, status);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("req-1", (string)body["id"]!);
        Assert.Equal("tiny-llama", (string)body["model_name"]!);
        Assert.False(string.IsNullOrEmpty((string?)body["model_version"]));
        Assert.Equal((string)completion["choices"]![0]!["text"]!, (string)body["text_output"]!);
    }

    [Fact]
    public async Task Generate_ParametersAtTheTopLevel_AsTensorRtLlmExamplesSendThem()
    {
        var (_, nested, _) = await OpenAiHttp.PostAsync(fixture.Client, "v2/models/tiny-llama/generate",
            new { text_input = Prompt, parameters = new { max_tokens = 5, temperature = 0, ignore_eos = true } });
        var (status, flat, _) = await OpenAiHttp.PostAsync(fixture.Client, "v2/models/tiny-llama/versions/1/generate",
            new { text_input = Prompt, max_tokens = 5, temperature = 0, ignore_eos = true, bad_words = "", stop_words = "" });

        Assert.Equal(200, status);
        Assert.Equal("1", (string)flat["model_version"]!);
        Assert.Equal((string)nested["text_output"]!, (string)flat["text_output"]!);
    }

    [Fact]
    public async Task GenerateStream_Greedy_OneEventPerUpdateConcatenatingToTheWholeText()
    {
        var (_, whole, _) = await OpenAiHttp.PostAsync(fixture.Client, "v2/models/tiny-llama/generate",
            new { text_input = Prompt, parameters = new { max_tokens = 12, temperature = 0, ignore_eos = true } });

        var (response, events, _) = await OpenAiHttp.StreamAsync(fixture.Client, "v2/models/tiny-llama/generate_stream",
            new { text_input = Prompt, parameters = new { max_tokens = 12, temperature = 0, ignore_eos = true } });

        OpenAiHttp.AssertEventStreamHeaders(response);
        var objects = events.Select(e => JsonNode.Parse(e)!.AsObject()).ToList();   // no [DONE]: Triton's stream just ends
        Assert.True(objects.Count >= 3, $"{objects.Count} events: not streamed");
        Assert.All(objects, o =>
        {
            Assert.Equal("tiny-llama", (string)o["model_name"]!);
            Assert.NotNull((string?)o["model_version"]);
        });
        Assert.Equal((string)whole["text_output"]!, string.Concat(objects.Select(o => (string)o["text_output"]!)));
    }

    [Theory]
    [InlineData("""{"parameters": {"max_tokens": 3}}""", 400, "text_input")]
    [InlineData("""{"text_input": 5}""", 400, "text_input")]
    [InlineData("""{"text_input": "hi", "parameters": {"temperature": 5}}""", 400, "parameters.temperature")]
    [InlineData("""{"text_input": "hi", "parameters": {"top_p": 0}}""", 400, "parameters.top_p")]
    [InlineData("""{"text_input": "hi", "parameters": {"max_tokens": 0}}""", 400, "parameters.max_tokens")]
    [InlineData("""{"text_input": "hi", "parameters": {"max_tokens": 4000}}""", 400, "parameters.max_tokens")]
    [InlineData("""{"text_input": "hi", "parameters": {"stop": ["a", "b", "c", "d", "e"]}}""", 400, "parameters.stop")]
    [InlineData("""{"text_input": "hi", "parameters": {"seed": "x"}}""", 400, "parameters.seed")]
    [InlineData("""{"text_input": "hi", "parameters": [1]}""", 400, "parameters")]
    [InlineData("""{"text_input": "hi", "temperature": -1}""", 400, "temperature")]
    [InlineData("""{"text_input": "", "parameters": {}}""", 400, "text_input")]
    [InlineData("""{"text_input": "hi" """, 400, "JSON")]
    public async Task Generate_BadRequest_KServeErrorNamingTheField(string body, int status, string field)
    {
        foreach (var path in new[] { "v2/models/tiny-llama/generate", "v2/models/tiny-llama/generate_stream" })
        {
            var response = await fixture.Client.PostAsync(path, OpenAiHttp.Json(body));
            var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

            Assert.Equal(status, (int)response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains(field, (string)error["error"]!);
        }
    }

    [Theory]
    [InlineData("v2/models/no-such-model/generate")]
    [InlineData("v2/models/add_one/generate")]
    [InlineData("v2/models/minilm/generate_stream")]
    public async Task Generate_NotAGenerationModel_404(string path)
    {
        var response = await fixture.Client.PostAsync(path, OpenAiHttp.Json("""{"text_input": "hi"}"""));
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(404, (int)response.StatusCode);
        Assert.Contains("not a ready text generation model", (string)error["error"]!);
    }
}
