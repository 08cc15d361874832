using Microsoft.ML.Tokenizers;
using Sluice.Core.Inference;

namespace Sluice.Engine.Generation;

/// <summary>
/// Creates a decoder model's tokenizer with Microsoft.ML.Tokenizers: <c>tiktoken:&lt;model&gt;</c> (e.g. <c>tiktoken:gpt2</c>,
/// data from the Microsoft.ML.Tokenizers.Data.* packages), or from the files the model folder carries: <c>tokenizer.model</c>
/// (SentencePiece, Llama), <c>vocab.json</c> + <c>merges.txt</c> (byte-level BPE), <c>vocab.txt</c> (BERT WordPiece).
/// </summary>
public static class TokenizerFactory
{
    /// <summary>Creates the tokenizer. Throws <see cref="InferenceException"/> (LoadFailed) naming what is missing.</summary>
    public static Tokenizer Create(DecoderModelSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var spec = settings.Tokenizer;
        try
        {
            if (spec.StartsWith("tiktoken:", StringComparison.Ordinal))
            {
                return TiktokenTokenizer.CreateForModel(spec["tiktoken:".Length..]);
            }

            if (spec != "files")
            {
                throw Failed(settings, $"'generation.tokenizer' is '{spec}'; expected tiktoken:<model> or files");
            }

            var directory = settings.Directory;
            var sentencePiece = Path.Combine(directory, "tokenizer.model");
            if (File.Exists(sentencePiece))
            {
                using var stream = File.OpenRead(sentencePiece);
                return LlamaTokenizer.Create(stream, addBeginOfSentence: true, addEndOfSentence: false);
            }

            var vocabJson = Path.Combine(directory, "vocab.json");
            var merges = Path.Combine(directory, "merges.txt");
            if (File.Exists(vocabJson) && File.Exists(merges))
            {
                using var vocab = File.OpenRead(vocabJson);
                using var mergeStream = File.OpenRead(merges);
                return CodeGenTokenizer.Create(vocab, mergeStream, addPrefixSpace: false, addBeginOfSentence: false, addEndOfSentence: false);
            }

            var wordPiece = Path.Combine(directory, "vocab.txt");
            if (File.Exists(wordPiece))
            {
                return BertTokenizer.Create(wordPiece);
            }

            throw Failed(settings, "no tokenizer: set 'generation.tokenizer' to tiktoken:<model>, or add tokenizer.model, vocab.json + merges.txt, or vocab.txt to the model folder");
        }
        catch (Exception e) when (e is not InferenceException and (IOException or ArgumentException or InvalidOperationException or FormatException or NotSupportedException))
        {
            throw Failed(settings, $"tokenizer '{spec}' could not be created: {e.Message}");
        }
    }

    private static InferenceException Failed(DecoderModelSettings settings, string what) =>
        new(InferenceError.LoadFailed, $"Decoder model '{settings.Name}': {what}.");
}
