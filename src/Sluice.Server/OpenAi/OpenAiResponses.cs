using System.Text;
using System.Text.Json;
using Sluice.Core.Generation;

namespace Sluice.Server.OpenAi;

/// <summary>Token counts of a response, as OpenAI's <c>usage</c>.</summary>
internal readonly record struct Usage(int PromptTokens, int CompletionTokens);

/// <summary>The identity every object and chunk of one response repeats.</summary>
/// <param name="Id"><c>cmpl-...</c> or <c>chatcmpl-...</c>.</param>
/// <param name="Created">Unix seconds.</param>
internal sealed record ResponseHeader(string Id, long Created, string Model, bool Chat)
{
    public string Object => Chat ? "chat.completion" : "text_completion";
    public string ChunkObject => Chat ? "chat.completion.chunk" : "text_completion";
}

/// <summary>A finished choice of a non-streamed response.</summary>
internal sealed record ChoiceResult(int Index, string Text, IReadOnlyList<TokenLogprob>? Logprobs, FinishReason Finish);

/// <summary>
/// Writes OpenAI's response objects with <see cref="Utf8JsonWriter"/> in OpenAI's field order, with the explicit nulls its
/// clients expect (<c>"logprobs": null</c>, <c>"finish_reason": null</c> in chunks).
/// </summary>
internal static class OpenAiResponses
{
    public static string FinishReasonText(FinishReason reason) => reason switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => "stop",
    };

    /// <summary>A whole <c>text_completion</c> or <c>chat.completion</c>.</summary>
    public static void WriteCompletion(Utf8JsonWriter json, ResponseHeader header, IReadOnlyList<ChoiceResult> choices, Usage usage)
    {
        json.WriteStartObject();
        WriteHeader(json, header, header.Object);
        json.WriteStartArray("choices");
        foreach (var choice in choices)
        {
            json.WriteStartObject();
            json.WriteNumber("index", choice.Index);
            if (header.Chat)
            {
                json.WriteStartObject("message");
                json.WriteString("role", "assistant");
                json.WriteString("content", choice.Text);
                json.WriteNull("refusal");
                json.WriteEndObject();
                WriteChatLogprobs(json, choice.Logprobs);
            }
            else
            {
                json.WriteString("text", choice.Text);
                WriteCompletionLogprobs(json, choice.Logprobs, 0);
            }

            json.WriteString("finish_reason", FinishReasonText(choice.Finish));
            json.WriteEndObject();
        }

        json.WriteEndArray();
        WriteUsage(json, usage);
        json.WriteEndObject();
    }

    /// <summary>One streamed chunk of one choice.</summary>
    /// <param name="role">Chat only: <c>assistant</c> in the first chunk of a choice.</param>
    /// <param name="textOffset">Completions only: where this chunk's text starts in the choice's text (for <c>text_offset</c>).</param>
    /// <param name="includeUsage">When the client asked for a usage chunk, every other chunk carries <c>"usage": null</c>.</param>
    public static void WriteChunk(
        Utf8JsonWriter json, ResponseHeader header, int index, string? role, string text, IReadOnlyList<TokenLogprob>? logprobs,
        int textOffset, FinishReason? finish, bool includeUsage)
    {
        json.WriteStartObject();
        WriteHeader(json, header, header.ChunkObject);
        json.WriteStartArray("choices");
        json.WriteStartObject();
        json.WriteNumber("index", index);
        if (header.Chat)
        {
            json.WriteStartObject("delta");
            if (role is not null)
            {
                json.WriteString("role", role);
            }

            if (role is not null || text.Length > 0)
            {
                json.WriteString("content", text);
            }

            json.WriteEndObject();
            WriteChatLogprobs(json, logprobs);
        }
        else
        {
            json.WriteString("text", text);
            WriteCompletionLogprobs(json, logprobs, textOffset);
        }

        if (finish is { } reason)
        {
            json.WriteString("finish_reason", FinishReasonText(reason));
        }
        else
        {
            json.WriteNull("finish_reason");
        }

        json.WriteEndObject();
        json.WriteEndArray();
        if (includeUsage)
        {
            json.WriteNull("usage");
        }

        json.WriteEndObject();
    }

    /// <summary>The last chunk when <c>stream_options.include_usage</c> is set: no choices, the whole request's usage.</summary>
    public static void WriteUsageChunk(Utf8JsonWriter json, ResponseHeader header, Usage usage)
    {
        json.WriteStartObject();
        WriteHeader(json, header, header.ChunkObject);
        json.WriteStartArray("choices");
        json.WriteEndArray();
        WriteUsage(json, usage);
        json.WriteEndObject();
    }

    private static void WriteHeader(Utf8JsonWriter json, ResponseHeader header, string objectName)
    {
        json.WriteString("id", header.Id);
        json.WriteString("object", objectName);
        json.WriteNumber("created", header.Created);
        json.WriteString("model", header.Model);
    }

    private static void WriteUsage(Utf8JsonWriter json, Usage usage)
    {
        json.WriteStartObject("usage");
        json.WriteNumber("prompt_tokens", usage.PromptTokens);
        json.WriteNumber("completion_tokens", usage.CompletionTokens);
        json.WriteNumber("total_tokens", usage.PromptTokens + usage.CompletionTokens);
        json.WriteEndObject();
    }

    /// <summary>The legacy completions shape: parallel arrays <c>tokens</c>, <c>token_logprobs</c>, <c>top_logprobs</c>, <c>text_offset</c>.</summary>
    private static void WriteCompletionLogprobs(Utf8JsonWriter json, IReadOnlyList<TokenLogprob>? logprobs, int textOffset)
    {
        if (logprobs is null)
        {
            json.WriteNull("logprobs");
            return;
        }

        json.WriteStartObject("logprobs");
        json.WriteStartArray("tokens");
        foreach (var token in logprobs)
        {
            json.WriteStringValue(token.Text);
        }

        json.WriteEndArray();
        json.WriteStartArray("token_logprobs");
        foreach (var token in logprobs)
        {
            json.WriteNumberValue(token.Logprob);
        }

        json.WriteEndArray();
        json.WriteStartArray("top_logprobs");
        foreach (var token in logprobs)
        {
            // A map from token text to log-probability; two ids that detokenize alike keep the likelier.
            json.WriteStartObject();
            var written = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (_, text, logprob) in token.Top.OrderByDescending(static t => t.Logprob))
            {
                if (written.Add(text))
                {
                    json.WriteNumber(text, logprob);
                }
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartArray("text_offset");
        var offset = textOffset;
        foreach (var token in logprobs)
        {
            json.WriteNumberValue(offset);
            offset += token.Text.Length;
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>The chat shape: <c>{"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}], "refusal": null}</c>.</summary>
    private static void WriteChatLogprobs(Utf8JsonWriter json, IReadOnlyList<TokenLogprob>? logprobs)
    {
        if (logprobs is null)
        {
            json.WriteNull("logprobs");
            return;
        }

        json.WriteStartObject("logprobs");
        json.WriteStartArray("content");
        foreach (var token in logprobs)
        {
            json.WriteStartObject();
            WriteTokenLogprob(json, token.Text, token.Logprob);
            json.WriteStartArray("top_logprobs");
            foreach (var (_, text, logprob) in token.Top)
            {
                json.WriteStartObject();
                WriteTokenLogprob(json, text, logprob);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteNull("refusal");
        json.WriteEndObject();
    }

    private static void WriteTokenLogprob(Utf8JsonWriter json, string text, float logprob)
    {
        json.WriteString("token", text);
        json.WriteNumber("logprob", logprob);
        json.WriteStartArray("bytes");
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            json.WriteNumberValue(b);
        }

        json.WriteEndArray();
    }

    /// <summary><c>{"object": "list", "data": [...]}</c> of models.</summary>
    public static void WriteModelList(Utf8JsonWriter json, IEnumerable<ModelEntry> models)
    {
        json.WriteStartObject();
        json.WriteString("object", "list");
        json.WriteStartArray("data");
        foreach (var model in models)
        {
            WriteModel(json, model);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>One model object; <c>max_model_len</c> (as vLLM writes it) for decoder models.</summary>
    public static void WriteModel(Utf8JsonWriter json, ModelEntry model)
    {
        json.WriteStartObject();
        json.WriteString("id", model.Id);
        json.WriteString("object", "model");
        json.WriteNumber("created", model.Created);
        json.WriteString("owned_by", "sluice");
        if (model.ContextLength is { } context)
        {
            json.WriteNumber("max_model_len", context);
        }

        json.WriteEndObject();
    }

    /// <summary>The embeddings list: floats as JSON numbers, or base64 of little-endian float32 for <c>encoding_format: base64</c>.</summary>
    public static void WriteEmbeddings(Utf8JsonWriter json, string model, IReadOnlyList<float[]> embeddings, bool base64, int promptTokens)
    {
        json.WriteStartObject();
        json.WriteString("object", "list");
        json.WriteStartArray("data");
        for (var i = 0; i < embeddings.Count; i++)
        {
            json.WriteStartObject();
            json.WriteString("object", "embedding");
            json.WriteNumber("index", i);
            if (base64)
            {
                json.WriteBase64String("embedding", System.Runtime.InteropServices.MemoryMarshal.AsBytes(embeddings[i].AsSpan()));
            }
            else
            {
                json.WriteStartArray("embedding");
                foreach (var value in embeddings[i])
                {
                    json.WriteNumberValue(value);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteString("model", model);
        json.WriteStartObject("usage");
        json.WriteNumber("prompt_tokens", promptTokens);
        json.WriteNumber("total_tokens", promptTokens);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}

/// <summary>A model as <c>/v1/models</c> lists it.</summary>
/// <param name="ContextLength">Decoder models' context length; null for embedding models.</param>
internal sealed record ModelEntry(string Id, long Created, int? ContextLength);
