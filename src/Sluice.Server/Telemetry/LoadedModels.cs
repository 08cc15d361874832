using Microsoft.Extensions.DependencyInjection;
using Sluice.Engine.Hosting;

namespace Sluice.Server.Telemetry;

/// <summary>
/// The engine's <see cref="ModelManager"/>, resolved on first use. The engine's batching loops hold the observers, and the
/// observers read the engine: resolving it lazily breaks that cycle in the container.
/// </summary>
public sealed class LoadedModels(IServiceProvider services)
{
    private ModelManager? _models;

    /// <summary>The engine.</summary>
    public ModelManager Models => _models ??= services.GetRequiredService<ModelManager>();
}
