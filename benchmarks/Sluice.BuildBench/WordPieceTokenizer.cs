using System.Text;

namespace Sluice.BuildBench;

/// <summary>A minimal uncased BERT WordPiece tokenizer (lower-case, split on spaces and punctuation, greedy longest match).</summary>
internal sealed class WordPieceTokenizer
{
    private readonly Dictionary<string, long> _vocab;

    public WordPieceTokenizer(string vocabPath)
    {
        _vocab = File.ReadLines(vocabPath).Select((token, id) => (token, id)).ToDictionary(p => p.token, p => (long)p.id);
    }

    public long[] Encode(string text)
    {
        var ids = new List<long> { _vocab["[CLS]"] };
        foreach (var word in Words(text.ToLowerInvariant()))
        {
            var start = 0;
            var pieces = new List<long>();
            while (start < word.Length)
            {
                var end = word.Length;
                long id = -1;
                while (end > start)
                {
                    var piece = (start > 0 ? "##" : "") + word[start..end];
                    if (_vocab.TryGetValue(piece, out id))
                    {
                        break;
                    }

                    end--;
                }

                if (end == start)
                {
                    pieces = [_vocab["[UNK]"]];
                    break;
                }

                pieces.Add(id);
                start = end;
            }

            ids.AddRange(pieces);
        }

        ids.Add(_vocab["[SEP]"]);
        return [.. ids];
    }

    private static IEnumerable<string> Words(string text)
    {
        var current = new StringBuilder();
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c) || char.IsPunctuation(c) || char.IsSymbol(c))
            {
                if (current.Length > 0) { yield return current.ToString(); current.Clear(); }
                if (!char.IsWhiteSpace(c)) yield return c.ToString();
            }
            else
            {
                current.Append(c);
            }
        }

        if (current.Length > 0) yield return current.ToString();
    }
}
