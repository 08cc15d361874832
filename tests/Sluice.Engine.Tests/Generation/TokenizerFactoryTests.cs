using Microsoft.ML.Tokenizers;
using Sluice.Core.Inference;
using Sluice.Engine.Generation;
using Sluice.Engine.Repository;

namespace Sluice.Engine.Tests.Generation;

/// <summary>Which tokenizer a decoder folder gets, and the errors when it has none.</summary>
public sealed class TokenizerFactoryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sluice-tok-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private DecoderModelSettings Settings(string tokenizer)
    {
        DemoRepository.WriteTinyLlama(_root);
        var config = Path.Combine(_root, "tiny-llama", "config.yaml");
        File.WriteAllText(config, File.ReadAllText(config).Replace("tokenizer: tiktoken:gpt2", $"tokenizer: {tokenizer}", StringComparison.Ordinal));
        return DecoderModelSettings.Load(Path.Combine(_root, "tiny-llama"));
    }

    [Fact]
    public void Tiktoken_names_a_data_package()
    {
        var tokenizer = TokenizerFactory.Create(Settings("tiktoken:gpt2"));
        Assert.IsType<TiktokenTokenizer>(tokenizer);
        Assert.Equal("Hello world", tokenizer.Decode(tokenizer.EncodeToIds("Hello world")));
    }

    [Fact]
    public void A_folder_with_a_wordpiece_vocab_gets_a_bert_tokenizer()
    {
        var settings = Settings("files");
        DemoRepository.WriteMiniLm(_root);
        File.Copy(Path.Combine(_root, "minilm", "vocab.txt"), Path.Combine(settings.Directory, "vocab.txt"));
        var tokenizer = TokenizerFactory.Create(settings);
        Assert.IsType<BertTokenizer>(tokenizer);
        Assert.Contains(7592, tokenizer.EncodeToIds("hello"));   // "hello" in the BERT uncased vocabulary
    }

    [Fact]
    public void A_folder_without_tokenizer_files_fails_to_load_saying_what_to_add()
    {
        var error = Assert.Throws<InferenceException>(() => TokenizerFactory.Create(Settings("files")));
        Assert.Equal(InferenceError.LoadFailed, error.Error);
        Assert.Contains("tokenizer.model", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_tokenizer_setting_names_the_field()
    {
        var error = Assert.Throws<InferenceException>(() => TokenizerFactory.Create(Settings("sentencepiece")));
        Assert.Contains("'generation.tokenizer'", error.Message, StringComparison.Ordinal);
    }
}
