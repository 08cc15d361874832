using System.Net.Http.Headers;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sluice.Server.Hosting;
using Sluice.Slo.Evaluation;

namespace Sluice.Server.Slo;

/// <summary>
/// POSTs SLO alert transitions (to firing and to resolved) to an Alertmanager-compatible webhook receiver, as Alertmanager's
/// version 4 payload. Transitions are queued from the evaluation thread without waiting (a bounded queue that drops the
/// oldest), and one background reader sends them, retrying a failed POST a bounded number of times with doubling delays:
/// a slow or absent receiver never holds up evaluation, let alone requests.
/// </summary>
internal sealed class SloWebhookSender : BackgroundService
{
    /// <summary>Notifications waiting to be sent; written by the evaluation thread, read by <see cref="ExecuteAsync"/> only.</summary>
    private readonly Channel<AlertTransition> _queue;

    /// <summary>The receiver, or null when none is configured (then nothing is queued or sent).</summary>
    private readonly Uri? _webhook;

    private readonly SloEvaluator _evaluator;
    private readonly SluiceListeners _listeners;
    private readonly IOptions<SluiceServerOptions> _options;
    private readonly SloHostingSettings _settings;
    private readonly ILogger _logger;

    /// <summary>Owned; its timeout bounds one attempt.</summary>
    private readonly HttpClient _client = new() { Timeout = TimeSpan.FromSeconds(10) };

    public SloWebhookSender(SloEvaluator evaluator, SluiceListeners listeners, IOptions<SluiceServerOptions> options,
        SloHostingSettings settings, ILogger<SloWebhookSender> logger)
    {
        _evaluator = evaluator;
        _listeners = listeners;
        _options = options;
        _settings = settings;
        _logger = logger;
        _webhook = options.Value.SloWebhookUrl is { } url ? new Uri(url, UriKind.Absolute) : null;
        _queue = Channel.CreateBounded<AlertTransition>(
            new BoundedChannelOptions(256) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => _logger.WebhookDropped());
        if (_webhook is not null)
        {
            _evaluator.AlertTransitioned += Enqueue;
        }
    }

    public override void Dispose()
    {
        _evaluator.AlertTransitioned -= Enqueue;
        _client.Dispose();
        base.Dispose();
    }

    private void Enqueue(AlertTransition transition)
    {
        if (transition.To is AlertState.Firing or AlertState.Resolved)
        {
            _queue.Writer.TryWrite(transition);   // never waits: full means the oldest is dropped
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_webhook is null)
        {
            return;
        }

        var batch = new List<AlertTransition>();
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                // Transitions of one evaluation go out together, as one Alertmanager group notification.
                batch.Clear();
                while (_queue.Reader.TryRead(out var transition))
                {
                    batch.Add(transition);
                }

                var externalUrl = SluiceApplication.AddressesOf(_listeners, _options.Value).Http.ToString().TrimEnd('/');
                if (AlertmanagerWebhookPayload.Build(batch, receiver: "sluice", externalUrl) is { } payload)
                {
                    await SendAsync(_webhook, payload, batch.Count, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down; unsent notifications are dropped.
        }
    }

    private async Task SendAsync(Uri webhook, string payload, int alertCount, CancellationToken stoppingToken)
    {
        var delay = _settings.WebhookFirstRetryDelay;
        for (int attempt = 1; ; attempt++)
        {
            string reason;
            try
            {
                using var content = new StringContent(payload, Encoding.UTF8);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var response = await _client.PostAsync(webhook, content, stoppingToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    _logger.WebhookSent(alertCount, (int)response.StatusCode);
                    return;
                }

                reason = $"HTTP {(int)response.StatusCode}";
            }
            catch (HttpRequestException e)
            {
                reason = e.HttpRequestError.ToString();
            }
            catch (TaskCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                reason = "timed out";
            }

            if (attempt >= _settings.WebhookAttempts)
            {
                _logger.WebhookGaveUp(_settings.WebhookAttempts, reason);
                return;
            }

            _logger.WebhookRetrying(attempt, _settings.WebhookAttempts, reason, delay.TotalSeconds);
            // Retries wait in real time, whatever clock the evaluator runs on.
            await Task.Delay(delay, TimeProvider.System, stoppingToken).ConfigureAwait(false);
            delay *= 2;
        }
    }
}
