using System.Globalization;
using System.Text.Json;
using Sluice.Core.Generation;
using Sluice.Server.Generation;

namespace Sluice.Server.OpenAi;

/// <summary>The prompt of a completion request: text to tokenize, or token ids as given.</summary>
internal sealed record CompletionPrompt(string? Text, int[]? TokenIds);

/// <summary>
/// A completion or chat request with every field read and range-checked; what remains is what needs the model (its
/// existence, the prompt's length against the context, token ids against the vocabulary, roles against the template).
/// </summary>
/// <param name="Prompt">Set for <c>/v1/completions</c>.</param>
/// <param name="Messages">Set for <c>/v1/chat/completions</c>.</param>
/// <param name="N">Choices to generate (1 to <see cref="OpenAiRequests.MaxN"/>).</param>
/// <param name="Logprobs">Alternatives per token to return (0 = the chosen token only); null = no logprobs.</param>
internal sealed record GenerateCall(
    string Model,
    CompletionPrompt? Prompt,
    IReadOnlyList<ChatMessage>? Messages,
    SamplingFields Sampling,
    int N,
    bool Stream,
    bool IncludeUsage,
    int? Logprobs)
{
    public bool IsChat => Messages is not null;
}

/// <summary>An embeddings request, read and checked.</summary>
internal sealed record EmbeddingsCall(string Model, IReadOnlyList<string> Inputs, bool Base64, int? Dimensions);

/// <summary>Reads OpenAI request bodies, naming the offending field (OpenAI's <c>param</c>) in every error.</summary>
internal static class OpenAiRequests
{
    /// <summary>Most choices per request.</summary>
    public const int MaxN = 8;

    /// <summary>Most alternatives per token (<c>logprobs</c> of completions, <c>top_logprobs</c> of chat).</summary>
    public const int MaxLogprobs = 5;

    /// <summary>Default max_tokens of <c>/v1/completions</c> (OpenAI's); chat defaults to what fits in the context.</summary>
    public const int CompletionDefaultMaxTokens = 16;

    /// <summary>Most texts in one embeddings request (OpenAI's limit).</summary>
    public const int MaxEmbeddingInputs = 2048;

    /// <summary>Chat roles accepted here; the model's template may know fewer and refuses the others naming the message.</summary>
    private static readonly HashSet<string> Roles = ["system", "developer", "user", "assistant", "tool"];

    public static GenerateCall ReadCompletion(JsonElement body)
    {
        var model = ReadModel(body);
        var prompt = ReadPrompt(body);
        if (JsonFields.Bool(body, "echo", "echo") == true)
        {
            throw new RequestFieldException("echo", "echo is not supported; only echo=false");
        }

        if (JsonFields.String(body, "suffix", "suffix") is { Length: > 0 })
        {
            throw new RequestFieldException("suffix", "suffix is not supported");
        }

        var logprobs = JsonFields.IntegerInRange(body, "logprobs", "logprobs", 0, MaxLogprobs);
        var (n, stream, includeUsage) = ReadCommon(body);
        if (JsonFields.Integer(body, "best_of", "best_of") is { } bestOf && bestOf != n)
        {
            throw new RequestFieldException("best_of", $"best_of is not supported beyond n; it must equal n ({n}) or be left out");
        }

        var sampling = SamplingFields.Read(body, "", "max_tokens");
        return new GenerateCall(model, prompt, null, sampling, n, stream, includeUsage, logprobs);
    }

    public static GenerateCall ReadChat(JsonElement body)
    {
        var model = ReadModel(body);
        var messages = ReadMessages(body);
        int? logprobs = null;
        var wantLogprobs = JsonFields.Bool(body, "logprobs", "logprobs") ?? false;
        var top = JsonFields.IntegerInRange(body, "top_logprobs", "top_logprobs", 0, MaxLogprobs);
        if (top is not null && !wantLogprobs)
        {
            throw new RequestFieldException("top_logprobs", "top_logprobs requires logprobs to be true");
        }

        if (wantLogprobs)
        {
            logprobs = top ?? 0;
        }

        if (JsonFields.Get(body, "tools") is { ValueKind: JsonValueKind.Array } tools && tools.GetArrayLength() > 0)
        {
            throw new RequestFieldException("tools", "tools (function calling) are not supported");
        }

        if (JsonFields.Get(body, "response_format") is { } format)
        {
            var type = format.ValueKind == JsonValueKind.Object ? JsonFields.String(format, "type", "response_format.type") : null;
            if (type is not (null or "text"))
            {
                throw new RequestFieldException("response_format", "only response_format {\"type\": \"text\"} is supported");
            }
        }

        var (n, stream, includeUsage) = ReadCommon(body);
        var sampling = SamplingFields.Read(body, "", "max_completion_tokens", "max_tokens");
        return new GenerateCall(model, null, messages, sampling, n, stream, includeUsage, logprobs);
    }

    public static EmbeddingsCall ReadEmbeddings(JsonElement body)
    {
        var model = ReadModel(body);
        if (JsonFields.Get(body, "input") is not { } input)
        {
            throw new RequestFieldException("input", "input is required: a string or an array of strings");
        }

        List<string> inputs;
        if (input.ValueKind == JsonValueKind.String)
        {
            inputs = [input.GetString()!];
        }
        else if (input.ValueKind == JsonValueKind.Array)
        {
            var count = input.GetArrayLength();
            if (count == 0)
            {
                throw new RequestFieldException("input", "input must not be an empty array");
            }

            if (count > MaxEmbeddingInputs)
            {
                throw new RequestFieldException("input", $"input holds {count} texts; at most {MaxEmbeddingInputs} are allowed");
            }

            inputs = new List<string>(count);
            var index = 0;
            foreach (var item in input.EnumerateArray())
            {
                if (item.ValueKind is JsonValueKind.Number or JsonValueKind.Array)
                {
                    throw new RequestFieldException("input", "token arrays are not supported as embedding input; send text");
                }

                if (item.ValueKind != JsonValueKind.String)
                {
                    throw new RequestFieldException($"input[{index}]", $"input[{index}] must be a string");
                }

                inputs.Add(item.GetString()!);
                index++;
            }
        }
        else
        {
            throw new RequestFieldException("input", "input must be a string or an array of strings");
        }

        for (var i = 0; i < inputs.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(inputs[i]))
            {
                throw new RequestFieldException(input.ValueKind == JsonValueKind.String ? "input" : $"input[{i}]", $"input[{i}] is empty");
            }
        }

        var format = JsonFields.String(body, "encoding_format", "encoding_format") ?? "float";
        if (format is not ("float" or "base64"))
        {
            throw new RequestFieldException("encoding_format", $"encoding_format must be 'float' or 'base64', got '{format}'");
        }

        var dimensions = JsonFields.IntegerInRange(body, "dimensions", "dimensions", 1, 1 << 20);
        return new EmbeddingsCall(model, inputs, format == "base64", dimensions);
    }

    private static string ReadModel(JsonElement body) =>
        JsonFields.String(body, "model", "model") is { Length: > 0 } model
            ? model
            : throw new RequestFieldException("model", "model is required");

    /// <summary>n, stream and stream_options, and the sampling features this server does not have (refused, not ignored).</summary>
    private static (int N, bool Stream, bool IncludeUsage) ReadCommon(JsonElement body)
    {
        var n = JsonFields.IntegerInRange(body, "n", "n", 1, MaxN) ?? 1;
        var stream = JsonFields.Bool(body, "stream", "stream") ?? false;
        var includeUsage = false;
        if (JsonFields.Get(body, "stream_options") is { } options)
        {
            if (options.ValueKind != JsonValueKind.Object)
            {
                throw new RequestFieldException("stream_options", "stream_options must be an object");
            }

            if (!stream)
            {
                throw new RequestFieldException("stream_options", "stream_options is only allowed when stream is true");
            }

            includeUsage = JsonFields.Bool(options, "include_usage", "stream_options.include_usage") ?? false;
        }

        foreach (var penalty in (string[])["frequency_penalty", "presence_penalty"])
        {
            if (JsonFields.Number(body, penalty, penalty) is { } value && value != 0)
            {
                throw new RequestFieldException(penalty, $"{penalty} is not supported; leave it out or send 0");
            }
        }

        if (JsonFields.Get(body, "logit_bias") is { } bias)
        {
            if (bias.ValueKind != JsonValueKind.Object)
            {
                throw new RequestFieldException("logit_bias", "logit_bias must be an object");
            }

            if (bias.EnumerateObject().Any())
            {
                throw new RequestFieldException("logit_bias", "logit_bias is not supported");
            }
        }

        return (n, stream, includeUsage);
    }

    /// <summary>A string, an array of one string, token ids, or an array of one token-id array.</summary>
    private static CompletionPrompt ReadPrompt(JsonElement body)
    {
        if (JsonFields.Get(body, "prompt") is not { } prompt)
        {
            throw new RequestFieldException("prompt", "prompt is required");
        }

        switch (prompt.ValueKind)
        {
            case JsonValueKind.String:
                return new CompletionPrompt(prompt.GetString(), null);
            case JsonValueKind.Array:
                var count = prompt.GetArrayLength();
                if (count == 0)
                {
                    throw new RequestFieldException("prompt", "prompt must not be an empty array");
                }

                var first = prompt[0];
                if (first.ValueKind == JsonValueKind.Number)
                {
                    return new CompletionPrompt(null, ReadTokenIds(prompt, "prompt"));
                }

                if (count != 1)
                {
                    throw new RequestFieldException("prompt", $"prompt holds {count} prompts; one prompt per request is supported (use n for several choices)");
                }

                return first.ValueKind switch
                {
                    JsonValueKind.String => new CompletionPrompt(first.GetString(), null),
                    JsonValueKind.Array => new CompletionPrompt(null, ReadTokenIds(first, "prompt[0]")),
                    _ => throw new RequestFieldException("prompt", "prompt must be a string, an array of token ids, or an array of one of those"),
                };
            default:
                throw new RequestFieldException("prompt", "prompt must be a string or an array of token ids");
        }
    }

    private static int[] ReadTokenIds(JsonElement array, string param)
    {
        if (array.GetArrayLength() == 0)
        {
            throw new RequestFieldException(param, $"{param} must hold at least one token id");
        }

        var ids = new int[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            var id = item.ValueKind == JsonValueKind.Number ? JsonFields.AsInteger(item, param) : -1;
            if (id is < 0 or > int.MaxValue)
            {
                throw new RequestFieldException(param, $"{param}[{i}] must be a non-negative integer token id");
            }

            ids[i++] = (int)id;
        }

        return ids;
    }

    private static IReadOnlyList<ChatMessage> ReadMessages(JsonElement body)
    {
        if (JsonFields.Get(body, "messages") is not { ValueKind: JsonValueKind.Array } array)
        {
            throw new RequestFieldException("messages", "messages is required: an array of {role, content} objects");
        }

        if (array.GetArrayLength() == 0)
        {
            throw new RequestFieldException("messages", "messages must hold at least one message");
        }

        var messages = new List<ChatMessage>(array.GetArrayLength());
        var i = 0;
        foreach (var message in array.EnumerateArray())
        {
            var at = $"messages[{i}]";
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw new RequestFieldException(at, $"{at} must be an object with role and content");
            }

            var role = JsonFields.String(message, "role", at + ".role")
                ?? throw new RequestFieldException(at + ".role", $"{at}.role is required");
            if (!Roles.Contains(role))
            {
                throw new RequestFieldException(at + ".role", $"{at}.role '{role}' is not one of system, developer, user, assistant, tool");
            }

            messages.Add(new ChatMessage(role == "developer" ? "system" : role, ReadContent(message, at, role)));
            i++;
        }

        return messages;
    }

    /// <summary>A string, or an array of <c>{"type": "text", "text": ...}</c> parts joined; null only for assistant and tool messages.</summary>
    private static string ReadContent(JsonElement message, string at, string role)
    {
        var param = at + ".content";
        switch (JsonFields.Get(message, "content"))
        {
            case null when role is "assistant" or "tool":
                return "";
            case null:
                throw new RequestFieldException(param, $"{param} is required");
            case { ValueKind: JsonValueKind.String } text:
                return text.GetString()!;
            case { ValueKind: JsonValueKind.Array } parts:
                var joined = new System.Text.StringBuilder();
                var j = 0;
                foreach (var part in parts.EnumerateArray())
                {
                    var partParam = $"{param}[{j}]";
                    if (part.ValueKind != JsonValueKind.Object)
                    {
                        throw new RequestFieldException(partParam, $"{partParam} must be an object like {{\"type\": \"text\", \"text\": \"...\"}}");
                    }

                    var type = JsonFields.String(part, "type", partParam + ".type");
                    if (type != "text")
                    {
                        throw new RequestFieldException(partParam + ".type",
                            $"{partParam}.type '{type}' is not supported; only text parts are");
                    }

                    joined.Append(JsonFields.String(part, "text", partParam + ".text")
                        ?? throw new RequestFieldException(partParam + ".text", $"{partParam}.text is required"));
                    j++;
                }

                return joined.ToString();
            default:
                throw new RequestFieldException(param, $"{param} must be a string or an array of text parts");
        }
    }

    /// <summary>
    /// The prompt's tokens and the engine's parameters, checked against the model: token ids within the vocabulary, prompt and
    /// max_tokens within the context. Throws <see cref="RequestFieldException"/>, or the service's InferenceException (e.g. a
    /// role the chat template does not know).
    /// </summary>
    public static (int[] PromptTokens, SamplingParameters Sampling) Resolve(GenerateCall call, GenerationModelInfo model, IGenerationService service)
    {
        int[] tokens;
        string promptParam;
        if (call.Messages is { } messages)
        {
            promptParam = "messages";
            tokens = service.Tokenize(model.Name, service.ApplyChatTemplate(model.Name, messages));
        }
        else
        {
            promptParam = "prompt";
            var prompt = call.Prompt!;
            if (prompt.TokenIds is { } ids)
            {
                for (var i = 0; i < ids.Length; i++)
                {
                    if (ids[i] >= model.VocabSize)
                    {
                        throw new RequestFieldException("prompt",
                            $"prompt token {ids[i].ToString(CultureInfo.InvariantCulture)} at index {i} is outside model '{model.Name}''s vocabulary of {model.VocabSize}");
                    }
                }

                tokens = ids;
            }
            else
            {
                tokens = service.Tokenize(model.Name, prompt.Text!);
            }
        }

        if (tokens.Length == 0)
        {
            throw new RequestFieldException(promptParam, $"{promptParam} is empty: it must hold at least one token");
        }

        var defaultMax = call.IsChat ? (int?)null : CompletionDefaultMaxTokens;
        return (tokens, call.Sampling.ToParameters(model, tokens.Length, defaultMax, promptParam, call.Logprobs));
    }
}
