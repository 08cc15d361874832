using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Sluice.Core.Generation;
using Sluice.Engine.Hosting;

namespace Sluice.Engine.Embeddings;

/// <summary>Registers the embedding service in the composition root.</summary>
public static class EmbeddingServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="EmbeddingService"/> as <see cref="IEmbeddingService"/>. It needs the engine
    /// (<see cref="EngineServiceCollectionExtensions.AddSluiceEngine"/>) for the repository and inference.
    /// </summary>
    public static IServiceCollection AddSluiceEmbeddings(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<IEmbeddingService, EmbeddingService>();
        return services;
    }
}
