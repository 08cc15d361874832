namespace Sluice.Slo.Spec;

/// <summary>
/// The default SLO spec (examples/slo.yaml, embedded in this assembly): what <c>sluice serve</c> evaluates when no spec is
/// given, and what <c>sluice slo rules</c> and <c>sluice slo dashboard</c> generate from by default.
/// </summary>
public static class DefaultSloSpec
{
    /// <summary>The name errors and logs give the built-in spec.</summary>
    public const string FileName = "slo.yaml (built-in default)";

    private const string ResourceName = "Sluice.Slo.DefaultSpec.slo.yaml";

    /// <summary>The YAML text of the default spec.</summary>
    public static string ReadYaml()
    {
        using var stream = typeof(DefaultSloSpec).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The resource {ResourceName} is missing from {typeof(DefaultSloSpec).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Parses the default spec. Its models are not checked against a repository: SLOs of a model that is not
    /// served report no data.</summary>
    public static SloSpecSet Load() => SloSpecLoader.Parse(ReadYaml(), FileName);
}
