using System.Globalization;
using System.Text.Json;

namespace Sluice.Server.Generation;

/// <summary>A request field that is missing, of the wrong type or out of range; <see cref="Param"/> names it as the client wrote it.</summary>
internal sealed class RequestFieldException(string param, string message) : Exception(message)
{
    /// <summary>The field's path, e.g. <c>max_tokens</c>, <c>messages[1].role</c> or <c>parameters.top_p</c>.</summary>
    public string Param { get; } = param;
}

/// <summary>
/// Typed reads of optional JSON fields that throw <see cref="RequestFieldException"/> naming the field. JSON <c>null</c> counts
/// as absent (clients send it for unset options); unknown fields are never looked at, so extras are ignored.
/// </summary>
internal static class JsonFields
{
    /// <summary>The field's value, or null when it is absent or JSON null.</summary>
    public static JsonElement? Get(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public static string? String(JsonElement obj, string name, string param)
    {
        if (Get(obj, name) is not { } value)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw new RequestFieldException(param, $"{param} must be a string");
    }

    public static bool? Bool(JsonElement obj, string name, string param) => Get(obj, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw new RequestFieldException(param, $"{param} must be a boolean"),
    };

    public static double? Number(JsonElement obj, string name, string param)
    {
        if (Get(obj, name) is not { } value)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !double.IsFinite(number))
        {
            throw new RequestFieldException(param, $"{param} must be a number");
        }

        return number;
    }

    /// <summary>An integer field; integral numbers written with a fraction or exponent (<c>16.0</c>, <c>1e3</c>) are accepted.</summary>
    public static long? Integer(JsonElement obj, string name, string param)
    {
        if (Get(obj, name) is not { } value)
        {
            return null;
        }

        return AsInteger(value, param);
    }

    /// <summary>An integer value, naming <paramref name="param"/> when it is not one.</summary>
    public static long AsInteger(JsonElement value, string param)
    {
        if (value.ValueKind == JsonValueKind.Number)
        {
            if (value.TryGetInt64(out var integer))
            {
                return integer;
            }

            if (value.TryGetDouble(out var number) && double.IsFinite(number) && Math.Floor(number) == number && Math.Abs(number) < 9e15)
            {
                return (long)number;
            }
        }

        throw new RequestFieldException(param, $"{param} must be an integer");
    }

    /// <summary>An integer field that must lie in <c>[min, max]</c>.</summary>
    public static int? IntegerInRange(JsonElement obj, string name, string param, int min, int max)
    {
        if (Integer(obj, name, param) is not { } value)
        {
            return null;
        }

        if (value < min || value > max)
        {
            throw new RequestFieldException(param, $"{param} must be between {min} and {max}, got {value.ToString(CultureInfo.InvariantCulture)}");
        }

        return (int)value;
    }

    /// <summary><c>stop</c>: a string or an array of at most <paramref name="max"/> non-empty strings.</summary>
    public static IReadOnlyList<string>? StopSequences(JsonElement obj, string name, string param, int max)
    {
        if (Get(obj, name) is not { } value)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            var single = value.GetString()!;
            return single.Length == 0 ? throw new RequestFieldException(param, $"{param} must not be an empty string") : [single];
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw new RequestFieldException(param, $"{param} must be a string or an array of strings");
        }

        var count = value.GetArrayLength();
        if (count > max)
        {
            throw new RequestFieldException(param, $"{param} holds {count} sequences; at most {max} are allowed");
        }

        var stops = new List<string>(count);
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString() is not { Length: > 0 } text)
            {
                throw new RequestFieldException($"{param}[{index}]", $"{param}[{index}] must be a non-empty string");
            }

            stops.Add(text);
            index++;
        }

        return stops.Count == 0 ? null : stops;
    }
}
