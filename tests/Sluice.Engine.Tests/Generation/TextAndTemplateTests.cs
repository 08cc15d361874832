using Microsoft.ML.Tokenizers;
using Sluice.Core.Generation;
using Sluice.Core.Inference;
using Sluice.Engine.Generation;

namespace Sluice.Engine.Tests.Generation;

/// <summary>Incremental detokenization with the real GPT-2 tokenizer, stop-sequence hold-back, and chat templates.</summary>
public sealed class TextAndTemplateTests
{
    private static readonly Tokenizer Gpt2 = TiktokenTokenizer.CreateForModel("gpt2");

    private static string Stream(string text, IReadOnlyList<string>? stops, out bool stopped)
    {
        var ids = Gpt2.EncodeToIds(text);
        var stream = new TextStream(Gpt2, [], stops);
        var output = new System.Text.StringBuilder();
        foreach (var id in ids)
        {
            var piece = stream.Add(id);
            Assert.DoesNotContain('\uFFFD', piece);
            output.Append(piece);
        }

        output.Append(stream.Flush());
        stopped = stream.Stopped;
        return output.ToString();
    }

    [Theory]
    [InlineData("Hello, world! How are you today?")]
    [InlineData("naïve café — 日本語のテキスト 🚀 emoji")]
    [InlineData("  leading spaces and\nnew lines\n\n")]
    public void Token_by_token_text_equals_the_whole_decode(string text)
    {
        Assert.Equal(text, Stream(text, null, out _));
    }

    [Fact]
    public void A_stop_sequence_split_across_tokens_is_held_back_and_cut()
    {
        Assert.Equal("The answer is 42.", Stream("The answer is 42.\n\nQuestion: next", ["\n\nQuestion"], out var stopped));
        Assert.True(stopped);
    }

    [Fact]
    public void A_partial_stop_match_that_does_not_complete_is_released()
    {
        Assert.Equal("a b\n\nc", Stream("a b\n\nc", ["\n\nQuestion"], out var stopped));
        Assert.False(stopped);
    }

    [Fact]
    public void Chatml_renders_roles_and_ends_at_the_assistant_turn()
    {
        var text = ChatTemplates.Render("chatml", [new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi")]);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void Llama3_and_llama2_render_their_markers()
    {
        var messages = new[] { new ChatMessage("system", "S"), new ChatMessage("user", "U") };
        Assert.Equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            ChatTemplates.Render("llama3", messages));
        Assert.Equal("<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST]", ChatTemplates.Render("llama2", messages));
    }

    [Fact]
    public void An_unknown_role_names_the_message()
    {
        var error = Assert.Throws<InferenceException>(() => ChatTemplates.Render("chatml", [new ChatMessage("user", "a"), new ChatMessage("robot", "b")]));
        Assert.Equal(InferenceError.InvalidInput, error.Error);
        Assert.Contains("'messages[1].role'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decoder_settings_name_the_bad_field()
    {
        var root = Directory.CreateTempSubdirectory("sluice-dec-").FullName;
        try
        {
            Sluice.Engine.Repository.DemoRepository.WriteTinyLlama(root);
            var config = Path.Combine(root, "tiny-llama", "config.yaml");
            File.WriteAllText(config, File.ReadAllText(config).Replace("max_running: 64", "max_running: -3", StringComparison.Ordinal));
            var error = Assert.Throws<InferenceException>(() => DecoderModelSettings.Load(Path.Combine(root, "tiny-llama")));
            Assert.Contains("'generation.max_running'", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
