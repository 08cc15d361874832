using Microsoft.AspNetCore.Http;

namespace Sluice.Server.Http;

/// <summary>
/// Validates the model name and version of a route, so that no name can point outside the repository: no path separators,
/// dot segments, percent-encoded remnants, NUL or other control characters.
/// </summary>
internal static class ModelRoute
{
    /// <summary>The longest model name accepted (a file-name component).</summary>
    public const int MaxNameLength = 255;

    /// <summary>Reads <c>{model}</c> and the optional <c>{version}</c>; false with a message naming the field when invalid.</summary>
    public static bool TryRead(HttpContext context, out string name, out string? version, out string error)
    {
        name = context.Request.RouteValues["model"] as string ?? "";
        version = context.Request.RouteValues["version"] as string;
        if (!IsValidName(name, out error))
        {
            return false;
        }

        if (version is not null && !IsValidVersion(version))
        {
            error = "model_version must be a positive integer";
            return false;
        }

        return true;
    }

    /// <summary>True when <paramref name="name"/> is a safe single path component.</summary>
    public static bool IsValidName(string name, out string error)
    {
        error = "";
        if (name.Length == 0)
        {
            error = "model_name is empty";
        }
        else if (name.Length > MaxNameLength)
        {
            error = $"model_name is longer than {MaxNameLength} characters";
        }
        else if (name is "." or ".." || name.Contains("..", StringComparison.Ordinal))
        {
            error = "model_name must not contain '..'";
        }
        else if (name.AsSpan().IndexOfAny(ForbiddenCharacters) >= 0 || name.Any(char.IsControl))
        {
            error = "model_name must not contain '/', '\\', '%', ':', NUL or control characters";
        }
        else if (char.IsWhiteSpace(name[0]) || char.IsWhiteSpace(name[^1]))
        {
            error = "model_name must not start or end with whitespace";
        }

        return error.Length == 0;
    }

    private static bool IsValidVersion(string version) =>
        version.Length is > 0 and <= 19 && version.All(char.IsAsciiDigit) && long.TryParse(version, out var number) && number > 0;

    private static readonly System.Buffers.SearchValues<char> ForbiddenCharacters =
        System.Buffers.SearchValues.Create("/\\%:\0");
}
