using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Sluice.Slo.Spec;

/// <summary>One problem in a spec file: where it is, which field, and what is wrong.</summary>
/// <param name="File">The file name as given to the loader.</param>
/// <param name="Line">1-based line (0 when the file could not be read at all).</param>
/// <param name="Column">1-based column.</param>
/// <param name="Field">The field's path, e.g. <c>slos[0].sli.latency.threshold</c>.</param>
/// <param name="Message">What is wrong, with the offending value.</param>
public sealed record SloSpecError(string File, int Line, int Column, string Field, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{File}:{Line}:{Column}: {Field}: {Message}";
}

/// <summary>Typed reads from YAML nodes that record every problem (with its mark) instead of stopping at the first.</summary>
internal sealed class SpecReader(string file)
{
    public string File { get; } = file;

    public List<SloSpecError> Errors { get; } = [];

    public void Error(YamlNode node, string field, string message) =>
        Errors.Add(new SloSpecError(File, (int)node.Start.Line, (int)node.Start.Column, field, message));

    public SpecLocation LocationOf(YamlNode node) => new(File, (int)node.Start.Line, (int)node.Start.Column);

    public YamlMappingNode? AsMapping(YamlNode node, string field)
    {
        if (node is YamlMappingNode mapping)
        {
            return mapping;
        }

        Error(node, field, "must be a mapping (key: value pairs)");
        return null;
    }

    public YamlNode? Child(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var node) ? node : null;

    public YamlNode? Required(YamlMappingNode map, string key, string parentField)
    {
        var node = Child(map, key);
        if (node is null)
        {
            Error(map, Join(parentField, key), "is required");
        }

        return node;
    }

    public void RejectUnknownKeys(YamlMappingNode map, string field, params string[] allowed)
    {
        foreach (var key in map.Children.Keys)
        {
            var name = (key as YamlScalarNode)?.Value ?? "";
            if (Array.IndexOf(allowed, name) < 0)
            {
                Error(key, Join(field, name), $"unknown field '{name}'; expected one of: {string.Join(", ", allowed)}");
            }
        }
    }

    public string? String(YamlMappingNode map, string key, string parentField, bool required = false)
    {
        var node = required ? Required(map, key, parentField) : Child(map, key);
        if (node is null)
        {
            return null;
        }

        if (node is YamlScalarNode { Value: { Length: > 0 } value })
        {
            return value;
        }

        Error(node, Join(parentField, key), "must be a non-empty string");
        return null;
    }

    public double? Double(YamlMappingNode map, string key, string parentField, bool required = false)
    {
        var node = required ? Required(map, key, parentField) : Child(map, key);
        if (node is null)
        {
            return null;
        }

        if (node is YamlScalarNode { Value: { } text } &&
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value))
        {
            return value;
        }

        Error(node, Join(parentField, key), $"must be a number, got '{(node as YamlScalarNode)?.Value}'");
        return null;
    }

    public bool? Bool(YamlNode node, string field)
    {
        if (node is YamlScalarNode { Value: { } text })
        {
            if (text is "true" or "True" or "yes")
            {
                return true;
            }

            if (text is "false" or "False" or "no")
            {
                return false;
            }
        }

        Error(node, field, $"must be true or false, got '{(node as YamlScalarNode)?.Value}'");
        return null;
    }

    public TimeSpan? Duration(YamlMappingNode map, string key, string parentField, bool required = false)
    {
        var node = required ? Required(map, key, parentField) : Child(map, key);
        if (node is null)
        {
            return null;
        }

        if (node is YamlScalarNode { Value: { } text } && DurationText.TryParse(text, out var value))
        {
            return value;
        }

        Error(node, Join(parentField, key),
            $"must be a duration such as 50ms, 5m, 1h or 30d, got '{(node as YamlScalarNode)?.Value}'");
        return null;
    }

    public IReadOnlyDictionary<string, string> StringMap(YamlMappingNode map, string key, string parentField)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var node = Child(map, key);
        if (node is null)
        {
            return result;
        }

        var field = Join(parentField, key);
        if (AsMapping(node, field) is not { } mapping)
        {
            return result;
        }

        foreach (var (k, v) in mapping.Children)
        {
            var name = (k as YamlScalarNode)?.Value ?? "";
            if (v is YamlScalarNode { Value: { } value })
            {
                result[name] = value;
            }
            else
            {
                Error(v, Join(field, name), "must be a string");
            }
        }

        return result;
    }

    public static string Join(string parent, string key) => parent.Length == 0 ? key : $"{parent}.{key}";
}
