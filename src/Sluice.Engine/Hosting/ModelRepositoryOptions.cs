namespace Sluice.Engine.Hosting;

/// <summary>How the server finds and manages its models (bound from the command line / configuration, validated at start).</summary>
public sealed class ModelRepositoryOptions
{
    /// <summary>The repository folder: <c>&lt;repo&gt;/&lt;model&gt;/&lt;version&gt;/model.onnx</c>.</summary>
    public string RepositoryPath { get; set; } = "";

    /// <summary>When the repository folder is empty or absent, write the demo model (MiniLM) into it first.</summary>
    /// <value>The default value is false; <c>sluice serve</c> with no repository argument turns it on.</value>
    public bool WriteDemoModel { get; set; }

    /// <summary><c>none</c>, <c>poll</c> or <c>explicit</c>, as Triton's <c>--model-control-mode</c>.</summary>
    public ModelControlMode ControlMode { get; set; } = ModelControlMode.None;

    /// <summary>How often <c>poll</c> mode rescans the repository.</summary>
    /// <value>The default value is 2 seconds.</value>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Models to load at start in <c>explicit</c> mode (Triton's <c>--load-model</c>); <c>*</c> loads all.</summary>
    public IList<string> StartupModels { get; set; } = [];

    /// <summary>Default execution provider for models that do not choose one: <c>cpu</c>, <c>cuda</c> or <c>tensorrt</c>.</summary>
    /// <value>The default value is <c>cpu</c>.</value>
    public string Device { get; set; } = "cpu";

    /// <summary>
    /// Load engines from <c>sluice build</c> even when their manifest's hardware fingerprint differs from this machine's
    /// (for the brave: an INT8 engine calibrated for VNNI may run slowly or wrongly elsewhere).
    /// </summary>
    /// <value>The default value is false: a mismatching engine is refused, with what differs in the repository index.</value>
    public bool AllowHardwareMismatch { get; set; }

    /// <summary>Longest an unloading (or replaced) version waits for its in-flight requests before it is disposed anyway.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan UnloadDrainTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Triton's model control modes.</summary>
public enum ModelControlMode
{
    /// <summary>Load every model at start; the repository API cannot load or unload.</summary>
    None,
    /// <summary>Load at start and rescan periodically: new versions load (and warm up) before taking traffic, removed ones unload after draining.</summary>
    Poll,
    /// <summary>Load only what the repository API (or <see cref="ModelRepositoryOptions.StartupModels"/>) asks for.</summary>
    Explicit,
}
