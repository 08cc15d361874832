using Microsoft.ML.Tokenizers;

namespace Sluice.Engine.Generation;

/// <summary>
/// Turns a sequence's tokens into text as they come: decodes a short window of context plus the new tokens and emits what the
/// new tokens added, holding back while the text ends in an incomplete UTF-8 character (byte-level BPE splits characters across
/// tokens) or in what may be the start of a stop sequence. A stop sequence ends the text before it.
/// </summary>
internal sealed class TextStream
{
    private const int ContextTokens = 6;
    private readonly Tokenizer _tokenizer;
    private readonly IReadOnlyList<string> _stops;
    private readonly List<int> _window = [];
    private int _prefixOffset;
    private int _readOffset;
    private string _pending = "";

    public TextStream(Tokenizer tokenizer, IReadOnlyList<int> prompt, IReadOnlyList<string>? stops)
    {
        _tokenizer = tokenizer;
        _stops = stops ?? [];
        var start = Math.Max(0, prompt.Count - ContextTokens);
        for (var i = start; i < prompt.Count; i++)
        {
            _window.Add(prompt[i]);
        }

        _readOffset = _window.Count;
    }

    /// <summary>True once a stop sequence was seen: no text follows.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds a token; returns the text that may be emitted now (possibly empty).</summary>
    public string Add(int token)
    {
        if (Stopped)
        {
            return "";
        }

        _window.Add(token);
        var prefixText = Decode(_prefixOffset, _readOffset);
        var fullText = Decode(_prefixOffset, _window.Count);
        if (fullText.Length <= prefixText.Length || fullText.EndsWith('\uFFFD'))
        {
            return "";   // an incomplete character: wait for the token that completes it
        }

        var delta = fullText[prefixText.Length..];
        _prefixOffset = _readOffset;
        _readOffset = _window.Count;
        if (_prefixOffset > 64)
        {
            // Keep the window short: drop what no longer serves as context.
            var drop = _prefixOffset;
            _window.RemoveRange(0, drop);
            _prefixOffset -= drop;
            _readOffset -= drop;
        }

        return Hold(delta);
    }

    /// <summary>The text held back at the end of the sequence (no stop sequence followed it).</summary>
    public string Flush()
    {
        var rest = Stopped ? "" : _pending;
        _pending = "";
        return rest;
    }

    private string Hold(string delta)
    {
        if (_stops.Count == 0)
        {
            return delta;
        }

        var text = _pending + delta;
        var cut = -1;
        foreach (var stop in _stops)
        {
            var at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut))
            {
                cut = at;
            }
        }

        if (cut >= 0)
        {
            Stopped = true;
            _pending = "";
            return text[..cut];
        }

        // Hold back the longest tail that could still grow into a stop sequence.
        var hold = 0;
        foreach (var stop in _stops)
        {
            for (var n = Math.Min(stop.Length - 1, text.Length); n > hold; n--)
            {
                if (text.AsSpan(text.Length - n).SequenceEqual(stop.AsSpan(0, n)))
                {
                    hold = n;
                    break;
                }
            }
        }

        _pending = text[(text.Length - hold)..];
        return text[..(text.Length - hold)];
    }

    private string Decode(int from, int to) =>
        to <= from ? "" : _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_window)[from..to].ToArray());
}
