using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Sluice.Core.Generation;
using Sluice.Core.Serving;
using Sluice.Slo.Evaluation;

namespace Sluice.Server.Slo;

/// <summary>Registers the SLO engine in the composition root.</summary>
internal static class SloServiceCollectionExtensions
{
    /// <summary>
    /// Adds the SLO engine for an already validated spec: the evaluator (fed by an <see cref="IInferenceObserver"/> for requests
    /// and an <see cref="IGenerationObserver"/> for generated sequences), its
    /// instruments on meter <see cref="SloMetrics.MeterName"/>, the evaluation service (history under
    /// <paramref name="dataDirectory"/>), the resource gauge sampler and the alert webhook sender.
    /// </summary>
    public static IServiceCollection AddSlo(this IServiceCollection services, SloSpecSource source, string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(source);
        services.TryAddSingleton(sp => new SloHostingSettings { Clock = sp.GetRequiredService<TimeProvider>() });
        services.AddSingleton(source);
        services.AddSingleton(SloHistoryLocation.In(dataDirectory));
        services.TryAddSingleton(sp => new SloEvaluator(source.Slos, sp.GetRequiredService<SloHostingSettings>().Clock,
            sp.GetRequiredService<ILogger<SloEvaluator>>()));
        services.TryAddSingleton(sp => new SloMetrics(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<SloEvaluator>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IInferenceObserver, SloInferenceObserver>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IGenerationObserver, SloGenerationObserver>());
        services.AddHostedService<SloEvaluationService>();
        services.AddHostedService<ResourceGaugeSampler>();
        services.AddSingleton<SloWebhookSender>();
        services.AddHostedService(sp => sp.GetRequiredService<SloWebhookSender>());
        return services;
    }
}
