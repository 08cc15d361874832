using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Sluice.Core.Serving;
using Sluice.Onnx.Hosting;

namespace Sluice.Engine.Hosting;

/// <summary>Registers the engine in the composition root.</summary>
public static class EngineServiceCollectionExtensions
{
    /// <summary>
    /// Adds the model repository, dynamic batching and the ONNX Runtime backend: <see cref="ModelRepositoryOptions"/> (validated
    /// at start), <see cref="TimeProvider.System"/>, <see cref="ServerLifecycle"/>, <see cref="ModelManager"/> as both
    /// <see cref="IInferenceService"/> and <see cref="IModelRepositoryService"/>, the hosted service that loads models at start
    /// and drains them at shutdown, and the poller for <see cref="ModelControlMode.Poll"/>.
    /// </summary>
    public static IServiceCollection AddSluiceEngine(this IServiceCollection services, Action<ModelRepositoryOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);

        services.AddOptions<ModelRepositoryOptions>().Configure(configure).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ModelRepositoryOptions>, ModelRepositoryOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ServerLifecycle>();
        services.AddOnnxRuntime();

        services.TryAddSingleton<ModelManager>();
        services.TryAddSingleton<IInferenceService>(sp => sp.GetRequiredService<ModelManager>());
        services.TryAddSingleton<IModelRepositoryService>(sp => sp.GetRequiredService<ModelManager>());
        services.AddHostedService<ModelRepositoryLoader>();
        services.AddHostedService<RepositoryPoller>();
        return services;
    }
}
