using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Sluice.Core.Generation;
using Sluice.Core.Serving;
using Sluice.Engine.Hosting;
using Sluice.Server.Hosting;

namespace Sluice.Server.Telemetry;

/// <summary>
/// Registers telemetry: the instruments (<see cref="InferenceMetrics"/>, <see cref="SystemMetrics"/>, <see cref="GpuMetrics"/>,
/// <see cref="PeakMetrics"/>, and <see cref="GenerationMetrics"/>, itself an <see cref="IGenerationObserver"/>), the observer
/// that feeds them, request spans, and OpenTelemetry's SDK with the Prometheus exporter
/// on the metrics port and the OTLP exporter when the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> variable is set.
/// </summary>
/// <remarks>
/// Exposition follows Triton's names exactly: the exporter's automatic <c>_total</c> suffix is off, and a view gives every
/// counter except Triton's own <c>nv_*</c> ones its <c>_total</c> (so <c>Sluice.Slo</c>'s <c>sluice_slo_events</c> is exposed as
/// <c>sluice_slo_events_total</c>). Every meter whose name starts with <c>Sluice</c> is exported.
/// </remarks>
public static class TelemetryServiceCollectionExtensions
{
    /// <summary>Meters exported: ours and every other Sluice component's (<c>Sluice.Slo</c>, ...).</summary>
    public static readonly string[] ExportedMeters = ["Sluice", "Sluice.*"];

    /// <summary>The scrape path on the metrics port.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>Adds telemetry, or, when <see cref="SluiceServerOptions.EnableTelemetry"/> is off, nothing but the empty dispatcher.</summary>
    public static IServiceCollection AddSluiceTelemetry(this IServiceCollection services, SluiceServerOptions options, IReadOnlyList<TimeSpan> sloThresholds)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        services.TryAddSingleton<InferenceObservers>();
        if (!options.EnableTelemetry)
        {
            return services;
        }

        var buckets = LatencyBuckets.Build(options.LatencyBucketsSeconds, sloThresholds);
        services.TryAddSingleton<LoadedModels>();
        services.TryAddSingleton(sp => new InferenceMetrics(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<LoadedModels>(), buckets));
        services.TryAddSingleton<SystemMetrics>();
        services.TryAddSingleton<GpuMetrics>();
        services.TryAddSingleton<PeakMetrics>();
        services.TryAddSingleton<RecentInputs>();
        services.TryAddSingleton<LiveProfiler>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IInferenceObserver, TelemetryObserver>(sp => new TelemetryObserver(
            sp.GetRequiredService<InferenceMetrics>(), options.ProfileSampleRate > 0 ? sp.GetRequiredService<LiveProfiler>() : null)));

        // LLM metrics: told of every token, sequence end and scheduler step by the generation engine (when the host has one).
        // Buckets hold every ttft and itl threshold of the SLO spec (registered by AddSlo; read when the instruments are built).
        services.TryAddSingleton(sp => new GenerationMetrics(sp.GetRequiredService<IMeterFactory>(),
            LatencyBuckets.BuildGeneration(options.LatencyBucketsSeconds, GenerationSloThresholds(sp)),
            () => sp.GetService<IGenerationService>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IGenerationObserver, GenerationMetrics>(sp => sp.GetRequiredService<GenerationMetrics>()));

        // The engine's service, decorated to keep recent inputs for profiling.
        services.AddSingleton<IInferenceService>(sp => new InputRecordingInferenceService(
            sp.GetRequiredService<ModelManager>(), sp.GetRequiredService<RecentInputs>()));

        var otlp = !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT"));
        var telemetry = services.AddOpenTelemetry()
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(ExportedMeters);
                ((IDeferredMeterProviderBuilder)metrics).Configure((provider, builder) =>
                {
                    var factory = provider.GetRequiredService<IMeterFactory>();
                    builder.AddView(instrument => View(instrument, factory));
                });
                metrics.AddPrometheusExporter(prometheus =>
                {
                    prometheus.DisableTotalNameSuffixForCounters = true;   // Triton's names have none; the view adds it to ours
                    prometheus.ScrapeResponseCacheDurationMilliseconds = 0;   // a scrape sees every request finished before it
                    prometheus.ScopeInfoEnabled = false;   // no otel_scope_* labels: Triton's series carry exactly model and version
                });
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        if (otlp)
        {
            // ASP.NET Core's own request activity carries the caller's traceparent; our request spans hang below it.
            telemetry.WithTracing(tracing => tracing.AddSource(RequestTracing.SourceName, "Microsoft.AspNetCore").AddOtlpExporter());
        }

        // Resolve the instruments at start, so they exist before the first scrape.
        services.AddHostedService<TelemetryStarter>();
        return services;
    }

    /// <summary>The thresholds of the ttft and itl SLOs the server evaluates (none when the host has no SLO engine).</summary>
    private static IEnumerable<TimeSpan> GenerationSloThresholds(IServiceProvider services) =>
        services.GetService<Slo.SloSpecSource>()?.Slos.Select(static s => s.Sli switch
        {
            Sluice.Slo.Spec.TtftSli ttft => ttft.Threshold,
            Sluice.Slo.Spec.ItlSli itl => itl.Threshold,
            _ => TimeSpan.Zero,
        }).Where(static t => t > TimeSpan.Zero) ?? [];

    /// <summary>
    /// The view of each instrument: counters get <c>_total</c> in the exposition, except Triton's <c>nv_*</c> names, which Triton
    /// exposes without it; instruments of another host's meter factory (several servers in one process, as in tests) are dropped,
    /// because a meter provider otherwise listens to every meter of that name in the process.
    /// </summary>
    private static MetricStreamConfiguration? View(Instrument instrument, IMeterFactory ownFactory)
    {
        if (instrument.Meter.Scope is { } scope && !ReferenceEquals(scope, ownFactory))
        {
            return MetricStreamConfiguration.Drop;
        }

        var type = instrument.GetType();
        var isCounter = type.IsGenericType
            && (type.GetGenericTypeDefinition() == typeof(Counter<>) || type.GetGenericTypeDefinition() == typeof(ObservableCounter<>));
        if (!isCounter || instrument.Name.StartsWith("nv_", StringComparison.Ordinal) || instrument.Name.EndsWith("_total", StringComparison.Ordinal))
        {
            return null;
        }

        return new MetricStreamConfiguration { Name = instrument.Name + "_total" };
    }

    /// <summary>Serves <c>/metrics</c> on the metrics listener only; that listener serves nothing else.</summary>
    public static void UseSluiceMetrics(this WebApplication app, Func<HttpContext, bool> isMetricsListener)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.Services.GetService<InferenceMetrics>() is null)
        {
            return;
        }

        app.Use((context, next) =>
        {
            if (!isMetricsListener(context))
            {
                return next(context);
            }

            if (context.Request.Path != MetricsPath)
            {
                return Http.HttpErrors.WriteAsync(context, StatusCodes.Status404NotFound, "only /metrics is served on the metrics port");
            }

            // Always the classic text format (0.0.4), as Triton serves: under OpenMetrics, which Prometheus asks for first, every
            // counter sample is renamed to end in _total and nv_inference_request_success would no longer match Triton dashboards.
            context.Request.Headers.Accept = "text/plain; version=0.0.4";
            return next(context);
        });
        app.UseOpenTelemetryPrometheusScrapingEndpoint(
            meterProvider: null,
            predicate: context => isMetricsListener(context) && context.Request.Path == MetricsPath,
            path: null,
            configureBranchedPipeline: null,
            optionsName: null);
    }
}

/// <summary>Creates the telemetry singletons when the host starts, so every instrument is registered before the first scrape.</summary>
internal sealed class TelemetryStarter(IServiceProvider services, Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime,
    Microsoft.Extensions.Logging.ILogger<TelemetryStarter> logger) : Microsoft.Extensions.Hosting.IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            if (services.GetRequiredService<MetricsListener>().Options?.IPEndPoint is { } endpoint)
            {
                logger.MetricsListening(new Uri($"http://{endpoint}/"));
            }
        });
        _ = services.GetRequiredService<InferenceMetrics>();
        _ = services.GetRequiredService<SystemMetrics>();
        _ = services.GetRequiredService<GpuMetrics>();
        _ = services.GetRequiredService<PeakMetrics>();
        _ = services.GetRequiredService<GenerationMetrics>();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
