using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Sluice.Engine.Configuration;

/// <summary>Reads <c>config.yaml</c> into the same <see cref="ConfigMessage"/> tree the text-format parser produces.</summary>
internal static class YamlConfigReader
{
    /// <summary>Deepest nesting accepted.</summary>
    private const int MaxDepth = 64;

    /// <summary>Parses a YAML document. Throws <see cref="ModelConfigException"/> with file, line and column on a syntax error.</summary>
    public static ConfigMessage Parse(string text, string fileName = "config.yaml")
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new ModelConfigException($"{fileName}:{e.Start.Line}:{e.Start.Column}: {FirstLine(e.Message)}");
        }
        catch (InvalidOperationException)
        {
            throw new ModelConfigException($"{fileName}: not valid YAML (an unclosed '[' or '{{'?)");
        }

        if (stream.Documents.Count == 0)
        {
            return new ConfigMessage([], 1, 1);
        }

        var root = stream.Documents[0].RootNode;
        if (root is YamlScalarNode { Value: null or "" or "~" or "null" })
        {
            return new ConfigMessage([], 1, 1);
        }

        if (Convert(root, fileName, 0) is not ConfigMessage message)
        {
            throw new ModelConfigException($"{fileName}:{root.Start.Line}:{root.Start.Column}: the document must be a mapping of fields");
        }

        return message;
    }

    private static ConfigNode Convert(YamlNode node, string fileName, int depth)
    {
        var (line, column) = ((int)node.Start.Line, (int)node.Start.Column);
        if (depth > MaxDepth)
        {
            throw new ModelConfigException($"{fileName}:{line}:{column}: nesting deeper than {MaxDepth} levels");
        }

        switch (node)
        {
            case YamlMappingNode mapping:
                var fields = new List<KeyValuePair<string, ConfigNode>>();
                foreach (var (key, value) in mapping.Children)
                {
                    if (key is not YamlScalarNode { Value: { } name })
                    {
                        throw new ModelConfigException($"{fileName}:{key.Start.Line}:{key.Start.Column}: field names must be plain words");
                    }

                    fields.Add(new(name, Convert(value, fileName, depth + 1)));
                }

                return new ConfigMessage(fields, line, column);
            case YamlSequenceNode sequence:
                return new ConfigList(sequence.Children.Select(child => Convert(child, fileName, depth + 1)).ToList(), line, column);
            case YamlScalarNode scalar:
                var quoted = scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted;
                return new ConfigScalar(scalar.Value ?? "", quoted, line, column);
            default:
                throw new ModelConfigException($"{fileName}:{line}:{column}: aliases and anchors are not supported");
        }
    }

    private static string FirstLine(string message)
    {
        var index = message.IndexOf('\n');
        return index < 0 ? message : message[..index];
    }
}
