using System.Globalization;
using System.Text;

namespace Sluice.Engine.Configuration;

/// <summary>
/// Parses the protobuf text format that Triton's <c>config.pbtxt</c> is written in, into a <see cref="ConfigMessage"/> tree.
/// </summary>
/// <remarks>
/// Supported: <c>#</c> comments; <c>field: value</c>; <c>field { ... }</c>, <c>field: { ... }</c> and the <c>&lt; ... &gt;</c>
/// form; lists <c>[a, b]</c>; repeated fields; single- or double-quoted strings with C escapes (adjacent strings join);
/// integers (decimal, hex), floats, <c>true</c>/<c>false</c> and enum identifiers; optional <c>,</c> or <c>;</c> between fields.
/// No schema: values stay text, and <see cref="ModelConfigMapper"/> decides what each field means.
/// </remarks>
internal sealed class PbtxtParser
{
    /// <summary>Deepest nesting accepted, so a hostile file cannot exhaust the stack.</summary>
    private const int MaxDepth = 64;

    private readonly string _text;
    private readonly string _fileName;
    private int _position;
    private int _line = 1;
    private int _column = 1;

    private PbtxtParser(string text, string fileName)
    {
        _text = text;
        _fileName = fileName;
    }

    /// <summary>Parses a whole document. Throws <see cref="ModelConfigException"/> with file, line and column on a syntax error.</summary>
    public static ConfigMessage Parse(string text, string fileName = "config.pbtxt")
    {
        var parser = new PbtxtParser(text, fileName);
        var message = parser.ParseFields(endChar: null, depth: 0, 1, 1);
        return message;
    }

    private ConfigMessage ParseFields(char? endChar, int depth, int line, int column)
    {
        if (depth > MaxDepth)
        {
            throw Error($"nesting deeper than {MaxDepth} levels");
        }

        var fields = new List<KeyValuePair<string, ConfigNode>>();
        while (true)
        {
            SkipWhitespaceAndComments();
            if (AtEnd)
            {
                if (endChar is not null)
                {
                    throw Error($"expected '{endChar}' to close the block opened at line {line}, column {column}, but the file ended");
                }

                return new ConfigMessage(fields, line, column);
            }

            var c = Peek;
            if (endChar is not null && c == endChar)
            {
                Advance();
                return new ConfigMessage(fields, line, column);
            }

            var name = ReadFieldName();
            SkipWhitespaceAndComments();
            ConfigNode value;
            if (!AtEnd && Peek == ':')
            {
                Advance();
                SkipWhitespaceAndComments();
                value = ParseValue(depth + 1, name);
            }
            else if (!AtEnd && Peek is '{' or '<' or '[')
            {
                value = ParseValue(depth + 1, name);
            }
            else
            {
                throw Error($"expected ':' or '{{' after field '{name}', got {DescribeNext()}");
            }

            fields.Add(new(name, value));
            SkipWhitespaceAndComments();
            if (!AtEnd && Peek is ',' or ';')
            {
                Advance();
            }
        }
    }

    private ConfigNode ParseValue(int depth, string fieldName)
    {
        if (AtEnd)
        {
            throw Error($"expected a value for field '{fieldName}', but the file ended");
        }

        var (line, column) = (_line, _column);
        switch (Peek)
        {
            case '{':
                Advance();
                return ParseFields('}', depth, line, column);
            case '<':
                Advance();
                return ParseFields('>', depth, line, column);
            case '[':
                Advance();
                return ParseList(depth, fieldName, line, column);
            case '"' or '\'':
                return ReadStrings();
            default:
                var token = ReadBareToken();
                if (token.Length == 0)
                {
                    throw Error($"expected a value for field '{fieldName}', got {DescribeNext()}");
                }

                return new ConfigScalar(token, quoted: false, line, column);
        }
    }

    private ConfigList ParseList(int depth, string fieldName, int line, int column)
    {
        var items = new List<ConfigNode>();
        SkipWhitespaceAndComments();
        if (!AtEnd && Peek == ']')
        {
            Advance();
            return new ConfigList(items, line, column);
        }

        while (true)
        {
            SkipWhitespaceAndComments();
            items.Add(ParseValue(depth + 1, fieldName));
            SkipWhitespaceAndComments();
            if (AtEnd)
            {
                throw Error($"expected ']' to close the list of field '{fieldName}' opened at line {line}, column {column}, but the file ended");
            }

            if (Peek == ',')
            {
                Advance();
                continue;
            }

            if (Peek == ']')
            {
                Advance();
                return new ConfigList(items, line, column);
            }

            throw Error($"expected ',' or ']' in the list of field '{fieldName}', got {DescribeNext()}");
        }
    }

    private string ReadFieldName()
    {
        if (Peek == '[')
        {
            // Extension or Any type URL: [pkg.ext] — read up to the closing bracket.
            var start = _position;
            while (!AtEnd && Peek != ']')
            {
                Advance();
            }

            if (AtEnd)
            {
                throw Error("unterminated '[' in a field name");
            }

            Advance();
            return _text[start.._position];
        }

        if (!IsIdentifierStart(Peek))
        {
            throw Error($"expected a field name, got {DescribeNext()}");
        }

        var begin = _position;
        while (!AtEnd && IsIdentifierPart(Peek))
        {
            Advance();
        }

        return _text[begin.._position];
    }

    /// <summary>Reads an identifier or number: letters, digits, '_', '.', '+', '-'.</summary>
    private string ReadBareToken()
    {
        var begin = _position;
        while (!AtEnd && (IsIdentifierPart(Peek) || Peek is '.' or '-' or '+'))
        {
            Advance();
        }

        return _text[begin.._position];
    }

    /// <summary>Reads one or more adjacent quoted strings ("a" "b" is "ab", as protobuf does).</summary>
    private ConfigScalar ReadStrings()
    {
        var (line, column) = (_line, _column);
        var builder = new StringBuilder();
        do
        {
            ReadString(builder);
            SkipWhitespaceAndComments();
        }
        while (!AtEnd && Peek is '"' or '\'');

        return new ConfigScalar(builder.ToString(), quoted: true, line, column);
    }

    private void ReadString(StringBuilder builder)
    {
        var (line, column) = (_line, _column);
        var quote = Peek;
        Advance();
        var bytes = new List<byte>();
        while (true)
        {
            if (AtEnd || Peek == '\n')
            {
                throw Error($"unterminated string starting at line {line}, column {column}");
            }

            var c = Peek;
            Advance();
            if (c == quote)
            {
                break;
            }

            if (c != '\\')
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
                continue;
            }

            if (AtEnd)
            {
                throw Error("unterminated escape sequence");
            }

            var escape = Peek;
            Advance();
            switch (escape)
            {
                case 'n': bytes.Add((byte)'\n'); break;
                case 't': bytes.Add((byte)'\t'); break;
                case 'r': bytes.Add((byte)'\r'); break;
                case 'a': bytes.Add(7); break;
                case 'b': bytes.Add(8); break;
                case 'f': bytes.Add(12); break;
                case 'v': bytes.Add(11); break;
                case '\\': bytes.Add((byte)'\\'); break;
                case '\'': bytes.Add((byte)'\''); break;
                case '"': bytes.Add((byte)'"'); break;
                case '?': bytes.Add((byte)'?'); break;
                case 'x' or 'X':
                    bytes.Add((byte)ReadDigits(16, 2, "hex"));
                    break;
                case >= '0' and <= '7':
                    _position--;
                    _column--;
                    bytes.Add((byte)ReadDigits(8, 3, "octal"));
                    break;
                default:
                    throw Error($"unknown escape sequence '\\{escape}'");
            }
        }

        builder.Append(Encoding.UTF8.GetString(bytes.ToArray()));
    }

    private int ReadDigits(int radix, int maxDigits, string kind)
    {
        var value = 0;
        var count = 0;
        while (count < maxDigits && !AtEnd && Uri.IsHexDigit(Peek) && int.Parse(Peek.ToString(), NumberStyles.HexNumber, CultureInfo.InvariantCulture) < radix)
        {
            value = value * radix + int.Parse(Peek.ToString(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            Advance();
            count++;
        }

        if (count == 0)
        {
            throw Error($"expected {kind} digits in an escape sequence");
        }

        return value;
    }

    private void SkipWhitespaceAndComments()
    {
        while (!AtEnd)
        {
            var c = Peek;
            if (c == '#')
            {
                while (!AtEnd && Peek != '\n')
                {
                    Advance();
                }
            }
            else if (char.IsWhiteSpace(c))
            {
                Advance();
            }
            else
            {
                return;
            }
        }
    }

    private bool AtEnd => _position >= _text.Length;

    private char Peek => _text[_position];

    private void Advance()
    {
        if (_text[_position] == '\n')
        {
            _line++;
            _column = 1;
        }
        else
        {
            _column++;
        }

        _position++;
    }

    private string DescribeNext() => AtEnd ? "the end of the file" : Peek switch
    {
        '\n' => "a line break",
        var c when char.IsControl(c) => $"control character 0x{(int)c:X2}",
        var c => $"'{c}'",
    };

    private static bool IsIdentifierStart(char c) => char.IsAsciiLetter(c) || c == '_';

    private static bool IsIdentifierPart(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    private ModelConfigException Error(string message) => new($"{_fileName}:{_line}:{_column}: {message}");
}
