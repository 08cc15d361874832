using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Core.Serving;
using Sluice.Engine.Hosting;

namespace Sluice.Server.Hosting;

/// <summary>
/// Announces where the server listens once started, and on shutdown (SIGTERM, Ctrl+C) drains: readiness turns false at
/// once, new requests get 503, and stopping waits for in-flight requests up to <see cref="SluiceServerOptions.DrainTimeout"/>.
/// </summary>
/// <remarks>
/// Draining runs in <see cref="StoppingAsync"/>, before any hosted service's <c>StopAsync</c>, so Kestrel still answers (503)
/// and the engine still runs models while in-flight requests finish.
/// </remarks>
internal sealed class ServerLifetimeService(
    ServerLifecycle lifecycle,
    IOptions<SluiceServerOptions> serverOptions,
    IOptions<ModelRepositoryOptions> repositoryOptions,
    SluiceListeners listeners,
    IHostApplicationLifetime applicationLifetime,
    ILogger<ServerLifetimeService> logger) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        applicationLifetime.ApplicationStopping.Register(static state => ((ServerLifecycle)state!).BeginDrain(), lifecycle);
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        var repository = repositoryOptions.Value;
        var addresses = SluiceApplication.AddressesOf(listeners, serverOptions.Value);
        logger.ServerListening(
            Path.GetFullPath(string.IsNullOrEmpty(repository.RepositoryPath) ? "." : repository.RepositoryPath),
            repository.ControlMode.ToString().ToLowerInvariant(),
            repository.Device,
            addresses.Http.ToString(),
            addresses.Grpc.ToString(),
            AppContext.GetData("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit")?.ToString() ?? "the runtime's default");
        return Task.CompletedTask;
    }

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        lifecycle.BeginDrain();
        var timeout = serverOptions.Value.DrainTimeout;
        logger.DrainStarted(timeout.TotalSeconds, lifecycle.InFlight);
        bool drained;
        try
        {
            drained = await lifecycle.WaitForDrainAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            drained = false;   // the host's own shutdown timeout passed first
        }

        if (drained)
        {
            logger.DrainCompleted();
        }
        else
        {
            logger.DrainTimedOut(lifecycle.InFlight);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
