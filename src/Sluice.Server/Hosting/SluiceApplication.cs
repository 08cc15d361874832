using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Engine.Embeddings;
using Sluice.Engine.Generation;
using Sluice.Engine.Hosting;
using Sluice.Server.Grpc;
using Sluice.Server.Http;
using Sluice.Server.OpenAi;
using Sluice.Server.Slo;
using Sluice.Server.Telemetry;

namespace Sluice.Server.Hosting;

/// <summary>The base addresses the server listens on (with the real ports when 0 was asked for).</summary>
/// <param name="Http">The KServe v2 HTTP base address, e.g. <c>http://127.0.0.1:8000/</c>.</param>
/// <param name="Grpc">The gRPC base address (HTTP/2 with prior knowledge), e.g. <c>http://127.0.0.1:8001/</c>.</param>
public sealed record SluiceAddresses(Uri Http, Uri Grpc)
{
    /// <summary>The metrics base address (<c>/metrics</c> below it); null when telemetry is off.</summary>
    public Uri? Metrics { get; init; }
}

/// <summary>The composition root of the server: Kestrel with an HTTP and a gRPC port, the engine, and both protocols.</summary>
public static class SluiceApplication
{
    /// <summary>Builds the server; call <c>RunAsync</c> (or <c>StartAsync</c>, then <see cref="GetAddresses"/>) on the result.</summary>
    /// <param name="server">Ports, limits, management and drain settings; validated here, all errors at once.</param>
    /// <param name="repository">Configures the model repository (path, control mode, device).</param>
    /// <param name="args">Command-line arguments for the host's configuration (logging levels and the like).</param>
    /// <exception cref="OptionsValidationException">When <paramref name="server"/> is invalid.</exception>
    /// <exception cref="SloSpecException">When the SLO spec (<see cref="SluiceServerOptions.SloSpecPath"/>) is invalid.</exception>
    public static WebApplication Build(SluiceServerOptions server, Action<ModelRepositoryOptions> repository, string[]? args = null) =>
        Build(server, repository, args, configureServices: null);

    /// <summary>As the public overload; <paramref name="configureServices"/> registers test doubles of our own seams (e.g. the
    /// SLO engine's clock) before the defaults, which are added with TryAdd.</summary>
    internal static WebApplication Build(
        SluiceServerOptions server, Action<ModelRepositoryOptions> repository, string[]? args, Action<IServiceCollection>? configureServices)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(repository);
        var errors = SluiceServerRulesValidator.Check(server);
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(SluiceServerOptions), errors);
        }

        // The SLO spec is validated before anything starts: its errors stop the server (file, line, field).
        var repositoryOptions = new ModelRepositoryOptions();
        repository(repositoryOptions);
        var slos = SloSpecSource.Load(server.SloSpecPath, repositoryOptions);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args ?? [] });

        // Per-request Information logs of ASP.NET Core cost latency on the infer path; keep its warnings and the lifetime lines.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        // :: Kestrel: the HTTP port speaks HTTP/1.1, the gRPC port HTTP/2 with prior knowledge only.
        var listeners = new SluiceListeners();
        var metricsListener = new MetricsListener();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = server.MaxRequestBodyBytes;   // backstop for chunked bodies
            var address = SluiceListeners.ParseAddress(server.ListenAddress);
            kestrel.Listen(address, server.HttpPort, listen =>
            {
                // HTTP/1.1 only for now: Kestrel (.NET 10) cannot negotiate h2c on a cleartext endpoint that also speaks HTTP/1.1
                // (it answers the HTTP/2 preface with HTTP_1_1_REQUIRED and warns at every start; dotnet/aspnetcore#56984).
                // HTTP/2 clients use the gRPC port.
                listen.Protocols = HttpProtocols.Http1;
                SluiceListeners.Tag(listen, ListenerKind.Http);
                listeners.Http = listen;
            });
            kestrel.Listen(address, server.GrpcPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                SluiceListeners.Tag(listen, ListenerKind.Grpc);
                listeners.Grpc = listen;
            });
            if (server.EnableTelemetry)
            {
                kestrel.Listen(address, server.MetricsPort, metricsListener.Configure);
            }
        });

        if (server.InlineIo)
        {
            // The runtime's own socket completions inline only when DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 was set before the
            // first socket was made (the CLI sets it for --inline-io); this is Kestrel's half.
            builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = true);
        }

        // :: Services, top to bottom: options, engine, gRPC, lifetime (drain on SIGTERM).
        var services = builder.Services;
        configureServices?.Invoke(services);
        services.AddSingleton(listeners);
        services.AddOptionsWithValidateOnStart<SluiceServerOptions, SluiceServerOptionsValidator>().Configure(options => CopyTo(server, options));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SluiceServerOptions>, SluiceServerRulesValidator>());
        services.Configure<HostOptions>(host => host.ShutdownTimeout = server.DrainTimeout + TimeSpan.FromSeconds(15));
        services.AddSluiceEngine(repository);
        services.AddSluiceGeneration();   // after the engine: its loader writes the demo repository first
        services.AddSluiceEmbeddings();
        services.AddSingleton(metricsListener);
        services.AddSluiceTelemetry(server, [.. slos.Slos.Select(static s => s.Sli).OfType<Sluice.Slo.Spec.LatencySli>().Select(static l => l.Threshold)]);
        services.AddKServeGrpc();
        services.AddSlo(slos, server.DataDirectory);   // before the lifetime service: it stops after the drain
        services.AddHostedService<ServerLifetimeService>();

        var app = builder.Build();

        // :: Pipeline: unexpected exceptions become 500 {"error":"internal error"}; empty-bodied errors (405) get an error body;
        //    each listener answers only its own protocol.
        app.UseExceptionHandler(new ExceptionHandlerOptions { ExceptionHandler = HandleUnexpectedAsync, SuppressDiagnosticsCallback = static _ => true });
        app.UseStatusCodePages(static context => HttpErrors.WriteAsync(
            context.HttpContext, context.HttpContext.Response.StatusCode, DescribeStatus(context.HttpContext)));
        app.UseSluiceMetrics(MetricsListener.IsMetrics);
        app.UseRouting();
        app.Use(SluiceListeners.FilterAsync);
        app.MapKServeHttp();
        app.MapKServeGenerate();
        app.MapOpenAi();
        app.MapKServeGrpc();
        app.MapSluiceProfile();
        app.MapSlo();
        return app;
    }

    /// <summary>The addresses the started server listens on; ports are the bound ones when 0 was asked for.</summary>
    public static SluiceAddresses GetAddresses(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<SluiceServerOptions>>().Value;
        var metrics = app.Services.GetRequiredService<MetricsListener>().Options;
        return AddressesOf(app.Services.GetRequiredService<SluiceListeners>(), options) with
        {
            Metrics = metrics is null ? null : BaseAddress(metrics, options.MetricsPort, options.ListenAddress),
        };
    }

    internal static SluiceAddresses AddressesOf(SluiceListeners listeners, SluiceServerOptions options) =>
        new(BaseAddress(listeners.Http, options.HttpPort, options.ListenAddress), BaseAddress(listeners.Grpc, options.GrpcPort, options.ListenAddress));

    private static Uri BaseAddress(ListenOptions? listen, int configuredPort, string configuredAddress)
    {
        var endpoint = listen?.IPEndPoint;
        var port = endpoint?.Port is > 0 and var bound ? bound : configuredPort;
        var address = endpoint?.Address ?? SluiceListeners.ParseAddress(configuredAddress);
        var host = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        return new Uri($"http://{host}:{port}/");
    }

    private static void CopyTo(SluiceServerOptions source, SluiceServerOptions target)
    {
        target.HttpPort = source.HttpPort;
        target.GrpcPort = source.GrpcPort;
        target.ListenAddress = source.ListenAddress;
        target.MaxRequestBodyBytes = source.MaxRequestBodyBytes;
        target.MaxJsonDepth = source.MaxJsonDepth;
        target.EnableModelManagement = source.EnableModelManagement;
        target.ManagementToken = source.ManagementToken;
        target.DrainTimeout = source.DrainTimeout;
        target.MetricsPort = source.MetricsPort;
        target.EnableTelemetry = source.EnableTelemetry;
        target.LatencyBucketsSeconds = source.LatencyBucketsSeconds;
        target.ProfileSampleRate = source.ProfileSampleRate;
        target.SloSpecPath = source.SloSpecPath;
        target.DataDirectory = source.DataDirectory;
        target.SloWebhookUrl = source.SloWebhookUrl;
        target.InlineIo = source.InlineIo;
    }

    /// <summary>Logs the exception (never sent to the client) and answers 500 <c>{"error":"internal error"}</c>.</summary>
    private static Task HandleUnexpectedAsync(HttpContext context)
    {
        var exception = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Sluice.Server");
        if (exception is not null)
        {
            logger.UnhandledException(context.Request.Method, context.Request.Path, exception);
        }

        return HttpErrors.WriteAsync(context, StatusCodes.Status500InternalServerError, "internal error");
    }

    private static string DescribeStatus(HttpContext context) => context.Response.StatusCode switch
    {
        StatusCodes.Status405MethodNotAllowed => $"method {context.Request.Method} is not allowed on this endpoint",
        StatusCodes.Status413PayloadTooLarge => "the request body is too large",
        StatusCodes.Status404NotFound => "no KServe v2 endpoint at this path",
        _ => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(context.Response.StatusCode) is { Length: > 0 } phrase ? phrase.ToLowerInvariant() : "request failed",
    };
}
