using System.Globalization;
using System.Text.Json;
using Sluice.Core.Inference;
using YamlDotNet.RepresentationModel;

namespace Sluice.Engine.Generation;

/// <summary>
/// A decoder model folder as the repository holds it: <c>config.yaml</c> with <c>backend: decoder</c> and a
/// <c>generation:</c> section (tokenizer, chat template, EOS, scheduler limits, KV cache budget), <c>decoder_config.json</c>
/// with the architecture (layers, KV heads, head dim, vocab), tokenizer files, and <c>&lt;version&gt;/model.onnx</c>.
/// </summary>
public sealed record DecoderModelSettings
{
    /// <summary>The file that marks a model folder as a decoder model.</summary>
    public const string ArchitectureFile = "decoder_config.json";

    /// <summary>Repository name.</summary>
    public required string Name { get; init; }

    /// <summary>The model folder.</summary>
    public required string Directory { get; init; }

    /// <summary>The ONNX file of the served version.</summary>
    public required string ModelPath { get; init; }

    /// <summary>The served version (the highest numeric version folder with a model file).</summary>
    public required string Version { get; init; }

    /// <summary>Transformer layers (each has a key and a value cache).</summary>
    public required int Layers { get; init; }

    /// <summary>Key/value heads per layer.</summary>
    public required int KvHeads { get; init; }

    /// <summary>Elements per head.</summary>
    public required int HeadDim { get; init; }

    /// <summary>Logits per position.</summary>
    public required int VocabSize { get; init; }

    /// <summary>KV cache element type as the model declares it: <c>float32</c> or <c>float16</c>.</summary>
    public string KvDataType { get; init; } = "float32";

    /// <summary>
    /// How the model takes its KV cache: <c>explicit</c> (past in, present out, the common Optimum/GenAI convention; the engine
    /// keeps the cache in blocks) or <c>shared_buffer</c> (GroupQueryAttention over a preallocated buffer the model updates in
    /// place; the runner keeps it, on the GPU with CUDA, one slot per running sequence).
    /// </summary>
    public string KvLayout { get; init; } = "explicit";

    /// <summary>The model's longest sequence (<c>max_position</c>); a shared-buffer model's slot length.</summary>
    public int MaxPosition { get; init; } = 2048;

    /// <summary>ONNX Runtime intra-op threads; 0 lets it decide.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>ONNX Runtime options as in a model's <c>execution.provider_options</c>: <c>session.*</c> keys are session settings (e.g. <c>session.intra_op.allow_spinning</c>), others go to the provider.</summary>
    public IReadOnlyDictionary<string, string> ProviderOptions { get; init; } = new Dictionary<string, string>();

    /// <summary>Capture CUDA graphs for decode steps (shared-buffer models on CUDA).</summary>
    public bool CudaGraph { get; init; } = true;

    /// <summary>Max prompt + generated tokens per sequence.</summary>
    public int ContextLength { get; init; } = 2048;

    /// <summary>Tokenizer: <c>tiktoken:&lt;model&gt;</c> or <c>files</c> (found in the model folder).</summary>
    public string Tokenizer { get; init; } = "files";

    /// <summary>Chat template name (<see cref="ChatTemplates"/>).</summary>
    public string ChatTemplate { get; init; } = "chatml";

    /// <summary>Tokens that end a sequence.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    /// <summary>Most sequences in the running batch.</summary>
    public int MaxRunning { get; init; } = 64;

    /// <summary>Most admitted sequences waiting for a slot; beyond it admission answers QueueFull.</summary>
    public int MaxWaiting { get; init; } = 1024;

    /// <summary>Most tokens computed in one scheduler step (one per decoding sequence plus prefill chunks).</summary>
    public int StepTokenBudget { get; init; } = 2048;

    /// <summary>Longest prompt piece prefilled for one sequence in one step.</summary>
    public int PrefillChunk { get; init; } = 512;

    /// <summary>The KV cache budget in tokens (rounded up to whole blocks), preallocated at load.</summary>
    public int KvCacheTokens { get; init; } = 131072;

    /// <summary>Tokens per KV cache block.</summary>
    public int KvBlockSize { get; init; } = 16;

    /// <summary>ONNX Runtime execution provider (<c>cpu</c>, <c>cuda</c>); null follows the server's device.</summary>
    public string? ExecutionProvider { get; init; }

    /// <summary>Bytes per KV element.</summary>
    public int KvElementSize => KvDataType == "float16" ? 2 : 4;

    /// <summary>True when <paramref name="modelDirectory"/> holds a decoder model.</summary>
    public static bool IsDecoderFolder(string modelDirectory) => File.Exists(Path.Combine(modelDirectory, ArchitectureFile));

    /// <summary>Reads a decoder model folder. Throws <see cref="InferenceException"/> (LoadFailed) naming the file and field at fault.</summary>
    public static DecoderModelSettings Load(string modelDirectory)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(modelDirectory));
        var (modelPath, version) = FindModelFile(modelDirectory, name);
        var architecture = ReadArchitecture(Path.Combine(modelDirectory, ArchitectureFile), name);
        var settings = architecture with { Name = name, Directory = modelDirectory, ModelPath = modelPath, Version = version };

        var configPath = Path.Combine(modelDirectory, "config.yaml");
        if (File.Exists(configPath))
        {
            settings = ApplyConfig(settings, configPath);
        }

        return Validate(settings);
    }

    private static (string Path, string Version) FindModelFile(string modelDirectory, string name)
    {
        var best = -1L;
        string? path = null;
        foreach (var directory in System.IO.Directory.GetDirectories(modelDirectory))
        {
            if (long.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > best
                && File.Exists(Path.Combine(directory, "model.onnx")))
            {
                best = number;
                path = Path.Combine(directory, "model.onnx");
            }
        }

        return path is null
            ? throw LoadFailed(name, "has no version folder with a model.onnx (expected <model>/<version>/model.onnx)")
            : (path, best.ToString(CultureInfo.InvariantCulture));
    }

    private static DecoderModelSettings ReadArchitecture(string path, string name)
    {
        using var document = ParseJson(path, name);
        var root = document.RootElement;
        int Required(string field) =>
            root.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var number) && number > 0
                ? number
                : throw LoadFailed(name, $"{ArchitectureFile}: '{field}' must be a positive integer");

        var heads = root.TryGetProperty("heads", out var h) && h.TryGetInt32(out var headCount) ? headCount : 0;
        var hidden = root.TryGetProperty("hidden", out var hd) && hd.TryGetInt32(out var hiddenSize) ? hiddenSize : 0;
        var headDim = root.TryGetProperty("head_dim", out var d) && d.TryGetInt32(out var dim) ? dim
            : heads > 0 && hidden > 0 ? hidden / heads : Required("head_dim");
        var dtype = root.TryGetProperty("dtype", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "float32";
        if (dtype is not ("float32" or "float16"))
        {
            throw LoadFailed(name, $"{ArchitectureFile}: 'dtype' must be float32 or float16, not '{dtype}'");
        }

        var context = root.TryGetProperty("max_position", out var m) && m.TryGetInt32(out var maxPosition) ? maxPosition : 2048;
        var layout = root.TryGetProperty("kv_layout", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString()! : "explicit";
        if (layout is not ("explicit" or "shared_buffer"))
        {
            throw LoadFailed(name, $"{ArchitectureFile}: 'kv_layout' must be explicit or shared_buffer, not '{layout}'");
        }
        return new DecoderModelSettings
        {
            Name = name, Directory = "", ModelPath = "", Version = "",
            Layers = Required("layers"),
            KvHeads = Required("kv_heads"),
            HeadDim = headDim,
            VocabSize = Required("vocab"),
            KvDataType = dtype,
            ContextLength = context,
            MaxPosition = context,
            KvLayout = layout,
        };
    }

    private static JsonDocument ParseJson(string path, string name)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw LoadFailed(name, $"{ArchitectureFile} is not valid JSON: {e.Message}");
        }
    }

    private static DecoderModelSettings ApplyConfig(DecoderModelSettings settings, string configPath)
    {
        var name = settings.Name;
        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            using var reader = new StreamReader(configPath);
            stream.Load(reader);
            root = stream.Documents.Count > 0 && stream.Documents[0].RootNode is YamlMappingNode mapping
                ? mapping
                : throw LoadFailed(name, "config.yaml must be a mapping");
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw LoadFailed(name, $"config.yaml is not valid YAML: {e.Message}");
        }

        if (!root.Children.TryGetValue(new YamlScalarNode("generation"), out var node))
        {
            return settings;
        }

        if (node is not YamlMappingNode generation)
        {
            throw LoadFailed(name, "config.yaml: 'generation' must be a mapping");
        }

        foreach (var (keyNode, valueNode) in generation.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            var field = "generation." + key;
            settings = key switch
            {
                "tokenizer" => settings with { Tokenizer = Scalar(valueNode, field, name) },
                "chat_template" => settings with { ChatTemplate = Scalar(valueNode, field, name) },
                "eos_token_ids" => settings with { EosTokenIds = IntList(valueNode, field, name) },
                "context_length" => settings with { ContextLength = Positive(valueNode, field, name) },
                "max_running" => settings with { MaxRunning = Positive(valueNode, field, name) },
                "max_waiting" => settings with { MaxWaiting = Positive(valueNode, field, name) },
                "step_token_budget" => settings with { StepTokenBudget = Positive(valueNode, field, name) },
                "prefill_chunk" => settings with { PrefillChunk = Positive(valueNode, field, name) },
                "kv_cache_tokens" => settings with { KvCacheTokens = Positive(valueNode, field, name) },
                "kv_block_size" => settings with { KvBlockSize = Positive(valueNode, field, name) },
                "execution_provider" => settings with { ExecutionProvider = Scalar(valueNode, field, name) },
                "cuda_graph" => settings with { CudaGraph = Boolean(valueNode, field, name) },
                "intra_op_threads" => settings with { IntraOpThreads = Positive(valueNode, field, name) },
                "provider_options" => settings with { ProviderOptions = StringMap(valueNode, field, name) },
                _ => throw LoadFailed(name, $"config.yaml: unknown field '{field}'"),
            };
        }

        return settings;
    }

    private static DecoderModelSettings Validate(DecoderModelSettings s)
    {
        if (!ChatTemplates.IsKnown(s.ChatTemplate))
        {
            throw LoadFailed(s.Name, $"config.yaml: 'generation.chat_template' is '{s.ChatTemplate}'; known: {string.Join(", ", ChatTemplates.Names)}");
        }

        if (s.StepTokenBudget < s.MaxRunning)
        {
            throw LoadFailed(s.Name, $"config.yaml: 'generation.step_token_budget' ({s.StepTokenBudget}) must be at least 'generation.max_running' ({s.MaxRunning}) so every running sequence decodes each step");
        }

        if (s.ContextLength > s.MaxPosition)
        {
            throw LoadFailed(s.Name, $"config.yaml: 'generation.context_length' ({s.ContextLength}) exceeds the model's max_position ({s.MaxPosition})");
        }

        if (s.KvCacheTokens < s.KvBlockSize)
        {
            throw LoadFailed(s.Name, "config.yaml: 'generation.kv_cache_tokens' must hold at least one block");
        }

        return s;
    }

    private static Dictionary<string, string> StringMap(YamlNode node, string field, string name)
    {
        if (node is not YamlMappingNode mapping)
        {
            throw LoadFailed(name, $"config.yaml: '{field}' must be a mapping of option names to values");
        }

        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in mapping.Children)
        {
            map[((YamlScalarNode)key).Value ?? ""] = value is YamlScalarNode { Value: { } text } ? text : throw LoadFailed(name, $"config.yaml: '{field}.{key}' must be a string");
        }

        return map;
    }

    private static bool Boolean(YamlNode node, string field, string name) =>
        node is YamlScalarNode scalar && bool.TryParse(scalar.Value, out var value)
            ? value
            : throw LoadFailed(name, $"config.yaml: '{field}' must be true or false");

    private static string Scalar(YamlNode node, string field, string name) =>
        node is YamlScalarNode { Value: { Length: > 0 } value } ? value : throw LoadFailed(name, $"config.yaml: '{field}' must be a non-empty string");

    private static int Positive(YamlNode node, string field, string name) =>
        node is YamlScalarNode scalar && int.TryParse(scalar.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : throw LoadFailed(name, $"config.yaml: '{field}' must be a positive integer");

    private static int[] IntList(YamlNode node, string field, string name)
    {
        if (node is YamlScalarNode)
        {
            return [NonNegative(node, field, name)];
        }

        return node is YamlSequenceNode sequence
            ? sequence.Children.Select((item, i) => NonNegative(item, $"{field}[{i}]", name)).ToArray()
            : throw LoadFailed(name, $"config.yaml: '{field}' must be a list of token ids");
    }

    private static int NonNegative(YamlNode node, string field, string name) =>
        node is YamlScalarNode scalar && int.TryParse(scalar.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= 0
            ? value
            : throw LoadFailed(name, $"config.yaml: '{field}' must be a token id (non-negative integer)");

    private static InferenceException LoadFailed(string name, string what) =>
        new(InferenceError.LoadFailed, $"Decoder model '{name}': {what}.");
}
