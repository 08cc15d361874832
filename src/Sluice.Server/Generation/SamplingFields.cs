using System.Globalization;
using System.Text.Json;
using Sluice.Core.Generation;

namespace Sluice.Server.Generation;

/// <summary>
/// The sampling and stopping fields that the OpenAI API and the KServe generate extension share, read and range-checked
/// before the model is known; <see cref="ToParameters"/> adds the checks that need the model and the prompt.
/// </summary>
/// <param name="MaxTokens">Most tokens to generate, or null for the endpoint's default.</param>
/// <param name="MaxTokensParam">The field <see cref="MaxTokens"/> came from (<c>max_tokens</c>, <c>max_completion_tokens</c>).</param>
internal sealed record SamplingFields(
    int? MaxTokens, string MaxTokensParam, float Temperature, float TopP, int TopK, long? Seed, IReadOnlyList<string>? Stop, bool IgnoreEos)
{
    /// <summary>The most stop sequences a request may carry (OpenAI's limit).</summary>
    public const int MaxStopSequences = 4;

    /// <summary>Reads the shared fields of <paramref name="obj"/>; <paramref name="prefix"/> is put before field names in errors.</summary>
    /// <param name="maxTokensNames">The names that carry max_tokens, preferred first (chat has <c>max_completion_tokens</c>).</param>
    public static SamplingFields Read(JsonElement obj, string prefix, params string[] maxTokensNames)
    {
        int? maxTokens = null;
        var maxTokensParam = prefix + maxTokensNames[0];
        foreach (var name in maxTokensNames)
        {
            if (JsonFields.Integer(obj, name, prefix + name) is { } value)
            {
                if (value < 1)
                {
                    throw new RequestFieldException(prefix + name, $"{prefix + name} must be at least 1, got {value.ToString(CultureInfo.InvariantCulture)}");
                }

                maxTokens = (int)Math.Min(value, int.MaxValue);
                maxTokensParam = prefix + name;
                break;
            }
        }

        var temperature = JsonFields.Number(obj, "temperature", prefix + "temperature") ?? 1.0;
        if (temperature is < 0 or > 2)
        {
            throw new RequestFieldException(prefix + "temperature", $"{prefix}temperature must be between 0 and 2, got {Format(temperature)}");
        }

        var topP = JsonFields.Number(obj, "top_p", prefix + "top_p") ?? 1.0;
        if (topP is <= 0 or > 1)
        {
            throw new RequestFieldException(prefix + "top_p", $"{prefix}top_p must be greater than 0 and at most 1, got {Format(topP)}");
        }

        // -1 (vLLM's "all tokens") and 0 both mean no top-k cut.
        var topK = JsonFields.Integer(obj, "top_k", prefix + "top_k") ?? 0;
        if (topK < -1)
        {
            throw new RequestFieldException(prefix + "top_k", $"{prefix}top_k must be -1, 0 (all tokens) or positive, got {topK.ToString(CultureInfo.InvariantCulture)}");
        }

        var seed = JsonFields.Integer(obj, "seed", prefix + "seed");
        var stop = JsonFields.StopSequences(obj, "stop", prefix + "stop", MaxStopSequences);
        var ignoreEos = JsonFields.Bool(obj, "ignore_eos", prefix + "ignore_eos") ?? false;
        return new SamplingFields(maxTokens, maxTokensParam, (float)temperature, (float)topP, (int)Math.Min(Math.Max(topK, 0), int.MaxValue), seed, stop, ignoreEos);
    }

    /// <summary>
    /// The engine's parameters for one sequence of a prompt of <paramref name="promptTokens"/> tokens: an explicit max_tokens
    /// that does not fit the context is refused naming it; the default is cut to what fits.
    /// </summary>
    /// <param name="defaultMaxTokens">Used when no max_tokens was given; null means "up to the context length".</param>
    /// <param name="promptParam">The field that holds the prompt, named when the prompt alone fills the context.</param>
    public SamplingParameters ToParameters(
        GenerationModelInfo model, int promptTokens, int? defaultMaxTokens, string promptParam, int? logprobs)
    {
        var room = model.ContextLength - promptTokens;
        if (MaxTokens is { } max)
        {
            if ((long)promptTokens + max > model.ContextLength)
            {
                throw new RequestFieldException(MaxTokensParam,
                    $"{MaxTokensParam} is {max}, but the prompt is {promptTokens} tokens and model '{model.Name}' has a context length of " +
                    $"{model.ContextLength}: at most {Math.Max(room, 0)} tokens can be generated");
            }
        }
        else if (room < 1)
        {
            throw new RequestFieldException(promptParam,
                $"the prompt is {promptTokens} tokens, which leaves no room in model '{model.Name}''s context length of {model.ContextLength}");
        }

        var maxTokens = MaxTokens ?? Math.Min(defaultMaxTokens ?? room, room);
        return new SamplingParameters(
            MaxTokens: maxTokens,
            Temperature: Temperature,
            TopK: Math.Min(TopK, model.VocabSize),
            TopP: TopP,
            Seed: Seed,
            StopSequences: Stop,
            IgnoreEos: IgnoreEos,
            Logprobs: logprobs);
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
