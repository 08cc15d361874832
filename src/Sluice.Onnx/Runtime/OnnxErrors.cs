using System.Text.RegularExpressions;
using Microsoft.ML.OnnxRuntime;

namespace Sluice.Onnx.Runtime;

/// <summary>Turns ONNX Runtime's error text into messages fit for clients: no absolute paths, no error-code prefix.</summary>
internal static partial class OnnxErrors
{
    /// <summary>ONNX Runtime's message without its <c>[ErrorCode:…]</c> prefix, with every absolute path cut to its file name.</summary>
    public static string Describe(OnnxRuntimeException exception, string? modelPath = null) => Sanitize(exception.Message, modelPath);

    /// <summary>Removes absolute paths (keeping file names) and the error-code prefix from <paramref name="message"/>.</summary>
    public static string Sanitize(string message, string? modelPath = null)
    {
        if (!string.IsNullOrEmpty(modelPath))
        {
            message = message.Replace(Path.GetFullPath(modelPath), Path.GetFileName(modelPath), StringComparison.Ordinal)
                             .Replace(modelPath, Path.GetFileName(modelPath), StringComparison.Ordinal);
        }

        message = ErrorCodePrefix().Replace(message, "");
        message = UnixPath().Replace(message, "$1");
        message = WindowsPath().Replace(message, "$1");
        return message.Trim();
    }

    [GeneratedRegex(@"^\s*\[ErrorCode:[^\]]*\]\s*")]
    private static partial Regex ErrorCodePrefix();

    /// <summary>An absolute Unix path: a slash not preceded by a word character, then at least one folder.</summary>
    [GeneratedRegex(@"(?<![\w.:/])/(?:[^\s/'""\]\[:,()]+/)+([^\s/'""\]\[:,()]*)")]
    private static partial Regex UnixPath();

    [GeneratedRegex(@"\b[A-Za-z]:\\(?:[^\s\\'""\]\[:,()]+\\)+([^\s\\'""\]\[:,()]*)")]
    private static partial Regex WindowsPath();
}
