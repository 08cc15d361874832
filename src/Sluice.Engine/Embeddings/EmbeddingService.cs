using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Microsoft.ML.Tokenizers;
using Sluice.Core.Generation;
using Sluice.Core.Inference;
using Sluice.Core.Serving;
using Sluice.Core.Tensors;
using Sluice.Engine.Hosting;
using Sluice.Engine.Repository;

namespace Sluice.Engine.Embeddings;

/// <summary>
/// Sentence embeddings from BERT-style encoder models of the repository: a model folder that carries a WordPiece
/// <c>vocab.txt</c> and whose model takes <c>input_ids</c> and <c>attention_mask</c> (and <c>token_type_ids</c> when it has
/// that input) and returns <c>last_hidden_state</c>. Texts are tokenized here, padded to the longest of their batch, run
/// through <see cref="IInferenceService"/> (so they share the model's queue, batcher and statistics with KServe clients),
/// mean-pooled over the attention mask and L2-normalized, as sentence-transformers does for all-MiniLM-L6-v2.
/// </summary>
/// <remarks>
/// Texts are never truncated: one longer than the model accepts is refused naming <c>input[i]</c>. The limit is the
/// <c>model_max_length</c> of a <c>tokenizer_config.json</c> beside the vocabulary when there is one, else
/// <see cref="DefaultMaxTokens"/> (BERT's position embeddings).
/// </remarks>
public sealed class EmbeddingService : IEmbeddingService
{
    /// <summary>Longest input, in tokens with [CLS] and [SEP], when the model folder does not say.</summary>
    public const int DefaultMaxTokens = 512;

    /// <summary>The WordPiece vocabulary file that marks a model as an embedding model.</summary>
    public const string VocabularyFile = "vocab.txt";

    /// <summary>Rows per inference request when the model does not batch (max_batch_size 0, batch in its dims).</summary>
    private const int UnbatchedChunk = 32;

    private const string InputIds = "input_ids";
    private const string AttentionMask = "attention_mask";
    private const string TokenTypeIds = "token_type_ids";
    private const string LastHiddenState = "last_hidden_state";

    private readonly IModelRepositoryService _repository;
    private readonly IInferenceService _inference;
    private readonly ModelRepositoryOptions _options;

    /// <summary>Tokenizers by model name, with the vocabulary's write time they were read at (reloaded when it changes).</summary>
    private readonly ConcurrentDictionary<string, LoadedTokenizer> _tokenizers = new(StringComparer.Ordinal);

    /// <summary>The repository's path guard, made on first use (the options are validated at start, not at construction).</summary>
    private ModelPaths? _paths;

    /// <summary>Creates the service over the engine's repository.</summary>
    public EmbeddingService(IModelRepositoryService repository, IInferenceService inference, IOptions<ModelRepositoryOptions> options)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(inference);
        ArgumentNullException.ThrowIfNull(options);
        _repository = repository;
        _inference = inference;
        _options = options.Value;
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Models =>
        _repository.GetIndex(readyOnly: true)
            .Select(static entry => entry.Name)
            .Distinct(StringComparer.Ordinal)
            .Where(name => TryDescribe(name, out _))
            .ToList();

    /// <inheritdoc />
    public async Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<string> inputs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputs);
        if (!_repository.IsModelReady(model, null))
        {
            throw new InferenceException(InferenceError.ModelNotFound, $"model '{model}' is not a ready model of this server");
        }

        if (!TryDescribe(model, out var shape))
        {
            throw new InferenceException(InferenceError.ModelNotFound,
                $"model '{model}' is not an embedding model (it needs a {VocabularyFile} and inputs {InputIds}, {AttentionMask}, output {LastHiddenState})");
        }

        if (inputs.Count == 0)
        {
            throw new InferenceException(InferenceError.InvalidInput, "input must hold at least one text");
        }

        var tokenizer = TokenizerOf(model);
        var tokens = new int[inputs.Count][];
        var promptTokens = 0;
        for (var i = 0; i < inputs.Count; i++)
        {
            var text = inputs[i];
            if (string.IsNullOrWhiteSpace(text))
            {
                throw new InferenceException(InferenceError.InvalidInput, $"input[{i}] is empty");
            }

            var ids = tokenizer.Tokenizer.EncodeToIds(text, addSpecialTokens: true, considerPreTokenization: true, considerNormalization: true);
            if (ids.Count > tokenizer.MaxTokens)
            {
                throw new InferenceException(InferenceError.InvalidInput,
                    $"input[{i}] is {ids.Count} tokens long; model '{model}' accepts at most {tokenizer.MaxTokens} (texts are not truncated)");
            }

            tokens[i] = [.. ids];
            promptTokens += ids.Count;
        }

        // Shortest first, so each chunk pads to a length close to its own texts'; results go back to the callers' order.
        var order = Enumerable.Range(0, tokens.Length).OrderBy(i => tokens[i].Length).ToArray();
        var chunkSize = shape.MaxBatchSize > 0 ? shape.MaxBatchSize : UnbatchedChunk;
        var chunks = order.Chunk(chunkSize).ToArray();
        var runs = chunks.Select(chunk => EmbedChunkAsync(model, shape, chunk.Select(i => tokens[i]).ToArray(), cancellationToken)).ToArray();
        var results = await Task.WhenAll(runs).ConfigureAwait(false);

        var embeddings = new float[tokens.Length][];
        for (var c = 0; c < chunks.Length; c++)
        {
            for (var row = 0; row < chunks[c].Length; row++)
            {
                embeddings[chunks[c][row]] = results[c][row];
            }
        }

        return new EmbeddingResult(embeddings, promptTokens);
    }

    /// <summary>Runs one padded batch and pools each row.</summary>
    private async Task<float[][]> EmbedChunkAsync(string model, EncoderShape shape, int[][] rows, CancellationToken cancellationToken)
    {
        var batch = rows.Length;
        var length = rows.Max(static r => r.Length);
        var ids = new long[batch * length];
        var mask = new long[batch * length];
        for (var b = 0; b < batch; b++)
        {
            for (var t = 0; t < rows[b].Length; t++)
            {
                ids[b * length + t] = rows[b][t];
                mask[b * length + t] = 1;
            }
        }

        long[] tensorShape = [batch, length];
        var inputs = new List<TensorData>(3)
        {
            Tensor(InputIds, shape.IdType, tensorShape, ids),
            Tensor(AttentionMask, shape.IdType, tensorShape, mask),
        };
        if (shape.HasTokenTypeIds)
        {
            inputs.Add(Tensor(TokenTypeIds, shape.IdType, tensorShape, new long[batch * length]));
        }

        var request = new InferenceRequest { ModelName = model, Inputs = inputs, Outputs = [new RequestedOutput(LastHiddenState)] };
        var response = await _inference.InferAsync(request, cancellationToken).ConfigureAwait(false);
        var output = response.Outputs.Single(static o => o.Name == LastHiddenState);
        if (output.DataType != DataType.Fp32 || output.Shape.Length != 3 || output.Shape[0] != batch || output.Shape[1] != length)
        {
            throw new InferenceException(InferenceError.RuntimeFailure,
                $"model '{model}' returned {LastHiddenState} as {output}, expected FP32 [{batch},{length},hidden]");
        }

        return Pool(output.ToArray<float>(), mask, batch, length, checked((int)output.Shape[2]));
    }

    /// <summary>Mean over the positions whose mask is 1, then L2 normalization, per row of <c>[batch, length, hidden]</c>.</summary>
    internal static float[][] Pool(ReadOnlySpan<float> hidden, ReadOnlySpan<long> mask, int batch, int length, int width)
    {
        var pooled = new float[batch][];
        var sum = new double[width];
        for (var b = 0; b < batch; b++)
        {
            Array.Clear(sum);
            var count = 0;
            for (var t = 0; t < length; t++)
            {
                if (mask[b * length + t] == 0)
                {
                    continue;
                }

                count++;
                var row = hidden.Slice((b * length + t) * width, width);
                for (var h = 0; h < width; h++)
                {
                    sum[h] += row[h];
                }
            }

            var norm = 0.0;
            for (var h = 0; h < width; h++)
            {
                sum[h] /= Math.Max(count, 1);
                norm += sum[h] * sum[h];
            }

            norm = Math.Max(Math.Sqrt(norm), 1e-12);   // as torch.nn.functional.normalize's eps
            var vector = new float[width];
            for (var h = 0; h < width; h++)
            {
                vector[h] = (float)(sum[h] / norm);
            }

            pooled[b] = vector;
        }

        return pooled;
    }

    private static TensorData Tensor(string name, DataType type, long[] shape, long[] values) =>
        type == DataType.Int32
            ? TensorData.From<int>(name, shape, values.Select(static v => (int)v).ToArray())
            : TensorData.From<long>(name, shape, values);

    /// <summary>Whether a ready model is an embedding model, and how to feed it.</summary>
    private bool TryDescribe(string model, out EncoderShape shape)
    {
        shape = default;
        if (!File.Exists(VocabularyPath(model)))
        {
            return false;
        }

        ModelMetadata metadata;
        int maxBatchSize;
        try
        {
            metadata = _repository.GetModelMetadata(model, null);
            maxBatchSize = _repository.GetModelConfig(model, null).MaxBatchSize;
        }
        catch (InferenceException)
        {
            return false;   // unloaded between the index and here
        }

        var ids = metadata.Inputs.FirstOrDefault(static i => i.Name == InputIds);
        var hasMask = metadata.Inputs.Any(static i => i.Name == AttentionMask);
        var hasOutput = metadata.Outputs.Any(static o => o.Name == LastHiddenState && o.Datatype == "FP32");
        var others = metadata.Inputs.Count(static i => i.Name is not (InputIds or AttentionMask or TokenTypeIds));
        if (ids is null || !hasMask || !hasOutput || others > 0 || ids.Datatype is not ("INT64" or "INT32"))
        {
            return false;
        }

        shape = new EncoderShape(
            ids.Datatype == "INT32" ? DataType.Int32 : DataType.Int64, metadata.Inputs.Any(static i => i.Name == TokenTypeIds), maxBatchSize);
        return true;
    }

    private string VocabularyPath(string model)
    {
        try
        {
            _paths ??= new ModelPaths(_options.RepositoryPath);
            return Path.Combine(_paths.ModelDirectory(model), VocabularyFile);
        }
        catch (ArgumentException)
        {
            return "";   // an unsafe name is no model of ours
        }
    }

    /// <summary>The model's tokenizer, read on first use and again when its vocabulary file changes.</summary>
    private LoadedTokenizer TokenizerOf(string model)
    {
        var path = VocabularyPath(model);
        var written = File.GetLastWriteTimeUtc(path);
        if (_tokenizers.TryGetValue(model, out var cached) && cached.VocabularyWritten == written)
        {
            return cached;
        }

        BertTokenizer tokenizer;
        try
        {
            using var stream = File.OpenRead(path);
            tokenizer = BertTokenizer.Create(stream, new BertOptions { LowerCaseBeforeTokenization = !IsCased(model) });
        }
        catch (Exception exception) when (exception is IOException or ArgumentException or FormatException or InvalidOperationException)
        {
            throw new InferenceException(InferenceError.RuntimeFailure, $"model '{model}': its {VocabularyFile} could not be read", exception);
        }

        var loaded = new LoadedTokenizer(tokenizer, written, MaxTokensOf(model));
        _tokenizers[model] = loaded;
        return loaded;
    }

    /// <summary>BERT vocabularies are uncased unless <c>tokenizer_config.json</c> says <c>"do_lower_case": false</c>.</summary>
    private bool IsCased(string model) =>
        ReadTokenizerConfig(model, "do_lower_case") is { ValueKind: JsonValueKind.False };

    private int MaxTokensOf(string model) =>
        ReadTokenizerConfig(model, "model_max_length") is { ValueKind: JsonValueKind.Number } value
        && value.TryGetDouble(out var max) && max is >= 2 and <= 1_000_000
            ? (int)max
            : DefaultMaxTokens;

    private JsonElement? ReadTokenizerConfig(string model, string property)
    {
        var path = Path.Combine(Path.GetDirectoryName(VocabularyPath(model)) ?? "", "tokenizer_config.json");
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(property, out var value)
                ? value.Clone()
                : null;
        }
        catch (Exception exception) when (exception is IOException or JsonException)
        {
            return null;
        }
    }

    /// <summary>How an embedding model takes its inputs.</summary>
    /// <param name="IdType">INT64 or INT32, as the model declares <c>input_ids</c>.</param>
    /// <param name="HasTokenTypeIds">Whether it has a <c>token_type_ids</c> input (all zeros for one sentence).</param>
    /// <param name="MaxBatchSize">Its max_batch_size; 0 when it does not batch.</param>
    private readonly record struct EncoderShape(DataType IdType, bool HasTokenTypeIds, int MaxBatchSize);

    private sealed record LoadedTokenizer(BertTokenizer Tokenizer, DateTime VocabularyWritten, int MaxTokens);
}
