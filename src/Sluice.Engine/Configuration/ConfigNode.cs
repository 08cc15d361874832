namespace Sluice.Engine.Configuration;

/// <summary>
/// A parsed configuration document, format-neutral: both <c>config.pbtxt</c> (protobuf text format) and <c>config.yaml</c> read
/// into this tree, so one <see cref="ModelConfigMapper"/> turns either into a <see cref="Core.Configuration.ModelConfig"/>.
/// Every node knows where it came from, for error messages.
/// </summary>
internal abstract class ConfigNode(int line, int column)
{
    /// <summary>1-based line of the node's first character.</summary>
    public int Line { get; } = line;

    /// <summary>1-based column of the node's first character.</summary>
    public int Column { get; } = column;

    /// <summary>A short description of the node for error messages: its value for scalars, its kind otherwise.</summary>
    public abstract string Describe();
}

/// <summary>A scalar as written: number, identifier (enum or bool) or string.</summary>
internal sealed class ConfigScalar(string value, bool quoted, int line, int column) : ConfigNode(line, column)
{
    /// <summary>The text of the value; for quoted strings, with escapes resolved.</summary>
    public string Value { get; } = value;

    /// <summary>True when written as a quoted string.</summary>
    public bool Quoted { get; } = quoted;

    public override string Describe() => Quoted ? $"\"{Value}\"" : $"'{Value}'";
}

/// <summary>A list (<c>[a, b]</c> in text format, a sequence in YAML).</summary>
internal sealed class ConfigList(IReadOnlyList<ConfigNode> items, int line, int column) : ConfigNode(line, column)
{
    /// <summary>The elements, in order.</summary>
    public IReadOnlyList<ConfigNode> Items { get; } = items;

    public override string Describe() => "a list";
}

/// <summary>A message (<c>{ ... }</c> in text format, a mapping in YAML). Fields keep their order; a repeated field appears once per occurrence.</summary>
internal sealed class ConfigMessage(IReadOnlyList<KeyValuePair<string, ConfigNode>> fields, int line, int column) : ConfigNode(line, column)
{
    /// <summary>The fields in document order, repeated names included.</summary>
    public IReadOnlyList<KeyValuePair<string, ConfigNode>> Fields { get; } = fields;

    public override string Describe() => "a block";

    /// <summary>The last occurrence of a singular field, or null.</summary>
    public ConfigNode? Get(string name)
    {
        ConfigNode? found = null;
        foreach (var field in Fields)
        {
            if (field.Key == name)
            {
                found = field.Value;
            }
        }

        return found;
    }

    /// <summary>
    /// Every element of a repeated field, however written: <c>input {..} input {..}</c>, <c>input: [{..}, {..}]</c>, or a YAML
    /// sequence. Empty when absent.
    /// </summary>
    public IReadOnlyList<ConfigNode> GetAll(string name)
    {
        var all = new List<ConfigNode>();
        foreach (var field in Fields)
        {
            if (field.Key != name)
            {
                continue;
            }

            if (field.Value is ConfigList list)
            {
                all.AddRange(list.Items);
            }
            else
            {
                all.Add(field.Value);
            }
        }

        return all;
    }

    /// <summary>True when the field occurs at least once.</summary>
    public bool Has(string name)
    {
        foreach (var field in Fields)
        {
            if (field.Key == name)
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>A configuration file that could not be read: syntax errors, with file, line and column.</summary>
public sealed class ModelConfigException(string message) : Exception(message);
