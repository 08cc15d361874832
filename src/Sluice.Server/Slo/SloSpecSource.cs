using Sluice.Engine.Hosting;
using Sluice.Slo.Spec;

namespace Sluice.Server.Slo;

/// <summary>The SLO spec could not be loaded: every error, each naming file, line, column and field.</summary>
public sealed class SloSpecException(IReadOnlyList<SloSpecError> errors)
    : Exception($"The SLO spec is invalid:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}")
{
    /// <summary>Every error found (never empty).</summary>
    public IReadOnlyList<SloSpecError> Errors { get; } = errors;
}

/// <summary>The SLOs the server evaluates and where they came from.</summary>
/// <param name="Slos">The validated SLOs.</param>
/// <param name="Source">The spec file, or <see cref="DefaultSloSpec.FileName"/>.</param>
internal sealed record SloSpecSource(IReadOnlyList<SloSpec> Slos, string Source)
{
    /// <summary>
    /// Loads the spec at start-up: the given file (its models checked against the repository's model folders, plus the demo
    /// model when it is written) or the built-in default (not checked: SLOs of a model that is not served report no data).
    /// </summary>
    /// <exception cref="SloSpecException">When the spec has errors.</exception>
    public static SloSpecSource Load(string? specPath, ModelRepositoryOptions repository)
    {
        ArgumentNullException.ThrowIfNull(repository);
        if (specPath is null)
        {
            var builtIn = DefaultSloSpec.Load();
            return builtIn.IsValid ? new SloSpecSource(builtIn.Slos, DefaultSloSpec.FileName) : throw new SloSpecException(builtIn.Errors);
        }

        if (!File.Exists(specPath))
        {
            throw new SloSpecException([new SloSpecError(Path.GetFileName(specPath), 0, 0, "--slo-spec", "the file does not exist")]);
        }

        var set = SloSpecLoader.LoadFiles([specPath], KnownModels(repository));
        return set.IsValid ? new SloSpecSource(set.Slos, specPath) : throw new SloSpecException(set.Errors);
    }

    /// <summary>The model folders of the repository (the demo model included when the server writes it).</summary>
    internal static IReadOnlyCollection<string> KnownModels(ModelRepositoryOptions repository)
    {
        var models = new HashSet<string>(StringComparer.Ordinal);
        if (repository.WriteDemoModel)
        {
            models.Add(Sluice.Engine.Repository.DemoRepository.ModelName);
        }

        if (Directory.Exists(repository.RepositoryPath))
        {
            foreach (var directory in Directory.EnumerateDirectories(repository.RepositoryPath))
            {
                models.Add(Path.GetFileName(directory));
            }
        }

        return models;
    }
}
