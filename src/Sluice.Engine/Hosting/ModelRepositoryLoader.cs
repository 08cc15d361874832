using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sluice.Engine.Repository;

namespace Sluice.Engine.Hosting;

/// <summary>
/// Loads the repository's models when the host starts (writing the demo model first when asked to and the folder is empty),
/// and at shutdown retires every version: queued and running requests finish before the runners are disposed.
/// </summary>
internal sealed class ModelRepositoryLoader(ModelManager manager, ILogger<ModelRepositoryLoader> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = manager.Options;
        if (options.WriteDemoModel && IsEmptyOrAbsent(options.RepositoryPath))
        {
            DemoRepository.EnsureWritten(options.RepositoryPath);
            logger.DemoModelWritten(DemoRepository.ModelName, options.RepositoryPath);
        }

        await manager.LoadInitialModelsAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) =>
        manager.StopAllAsync(manager.Options.UnloadDrainTimeout).WaitAsync(cancellationToken);

    private static bool IsEmptyOrAbsent(string path) =>
        !Directory.Exists(path) || !Directory.EnumerateFileSystemEntries(path).Any();
}

/// <summary>Poll mode: rescans the repository every <see cref="ModelRepositoryOptions.PollInterval"/>.</summary>
internal sealed class RepositoryPoller(ModelManager manager, TimeProvider timeProvider, ILogger<RepositoryPoller> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (manager.Options.ControlMode != ModelControlMode.Poll)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(manager.Options.PollInterval, timeProvider, stoppingToken).ConfigureAwait(false);
                await manager.PollAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.RepositoryScanFailed(e);
            }
        }
    }
}
