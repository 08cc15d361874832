using System.Globalization;

namespace Sluice.Engine.Repository;

/// <summary>
/// Keeps every path the repository opens inside the repository folder. Names and versions from clients are checked as text
/// first (no separators, no <c>..</c>, no NUL or control characters, nothing that percent-decodes to those, no rooted paths);
/// paths built from them are then checked again after resolving symbolic links, so a version folder that links outside the
/// repository is refused too.
/// </summary>
public sealed class ModelPaths
{
    /// <summary>Longest model name accepted.</summary>
    public const int MaxNameLength = 200;

    /// <summary>The repository folder, absolute, with links resolved.</summary>
    public string Root { get; }

    public ModelPaths(string repositoryPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(repositoryPath);
        Root = Resolve(Path.GetFullPath(repositoryPath));
    }

    /// <summary>Checks a model name as text. Returns null when safe, else why not (without echoing the name).</summary>
    public static string? CheckModelName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return "model name is empty";
        }

        if (name.Length > MaxNameLength)
        {
            return $"model name is longer than {MaxNameLength} characters";
        }

        if (CheckSegment(name) is { } problem)
        {
            return "model name " + problem;
        }

        if (name.Contains('%'))
        {
            // A name that is percent-encoded (once or more) must be safe in every decoded form too: %2e%2e%2f is "../".
            var decoded = name;
            for (var i = 0; i < 3 && decoded.Contains('%'); i++)
            {
                var next = Uri.UnescapeDataString(decoded);
                if (next == decoded)
                {
                    break;
                }

                decoded = next;
                if (CheckSegment(decoded) is { } decodedProblem)
                {
                    return "model name, percent-decoded, " + decodedProblem;
                }
            }
        }

        return null;
    }

    /// <summary>Parses a version folder name or requested version: decimal digits only, ≤ 18 of them.</summary>
    public static bool TryParseVersion(string? text, out long version)
    {
        version = 0;
        if (string.IsNullOrEmpty(text) || text.Length > 18)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out version);
    }

    /// <summary>The folder of a model; throws <see cref="ArgumentException"/> for an unsafe name or a folder that resolves outside.</summary>
    public string ModelDirectory(string name)
    {
        if (CheckModelName(name) is { } problem)
        {
            throw new ArgumentException(problem, nameof(name));
        }

        return EnsureInside(Path.Combine(Root, name));
    }

    /// <summary>The folder of one version of a model, checked like <see cref="ModelDirectory"/>.</summary>
    public string VersionDirectory(string name, long version)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(version);
        return EnsureInside(Path.Combine(ModelDirectory(name), version.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>The model file of one version, checked like <see cref="ModelDirectory"/>.</summary>
    public string ModelFile(string name, long version, string fileName)
    {
        if (fileName.Length == 0 || fileName is "." or ".." || fileName.IndexOfAny(['/', '\\', '\0']) >= 0)
        {
            throw new ArgumentException("model file name must be a plain file name", nameof(fileName));
        }

        return EnsureInside(Path.Combine(VersionDirectory(name, version), fileName));
    }

    /// <summary>True when a path, with every link on it resolved, lies inside the repository.</summary>
    public bool IsInside(string path)
    {
        var resolved = Resolve(Path.GetFullPath(path));
        return resolved.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }

    private string EnsureInside(string path)
    {
        if (!IsInside(path))
        {
            throw new ArgumentException("path leads outside the model repository");
        }

        return path;
    }

    private static string? CheckSegment(string text)
    {
        if (text is "." or "..")
        {
            return "may not be '.' or '..'";
        }

        if (text.Contains("..", StringComparison.Ordinal))
        {
            return "may not contain '..'";
        }

        foreach (var c in text)
        {
            if (c is '/' or '\\')
            {
                return "may not contain a path separator";
            }

            if (c == '\0' || char.IsControl(c))
            {
                return "may not contain control characters";
            }

            if (c == ':')
            {
                return "may not contain ':'";
            }
        }

        if (Path.IsPathRooted(text) || text.StartsWith('~'))
        {
            return "may not be an absolute path";
        }

        return null;
    }

    /// <summary>Resolves symbolic links on every existing component of an absolute path.</summary>
    private static string Resolve(string fullPath)
    {
        var root = Path.GetPathRoot(fullPath) ?? "/";
        var current = root;
        var parts = fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var next = Path.Combine(current, parts[i]);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            if (info.Exists && info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                next = target is null ? next : Path.GetFullPath(target.FullName);
                next = Resolve(next);   // the target may itself sit under links
            }

            current = next;
        }

        return current.Length > root.Length ? current.TrimEnd(Path.DirectorySeparatorChar) : current;
    }
}
