using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Sluice.Core.Generation;

namespace Sluice.Engine.Generation;

/// <summary>Registers LLM generation in the composition root.</summary>
public static class GenerationServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="GenerationManager"/> as <see cref="IGenerationService"/> and as a hosted service that loads the
    /// repository's decoder models at start. Call after <c>AddSluiceEngine</c>: hosted services start in registration order,
    /// and the repository loader writes the demo repository first.
    /// </summary>
    public static IServiceCollection AddSluiceGeneration(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<GenerationManager>();
        services.TryAddSingleton<IGenerationService>(sp => sp.GetRequiredService<GenerationManager>());
        services.AddHostedService(sp => sp.GetRequiredService<GenerationManager>());
        return services;
    }
}
