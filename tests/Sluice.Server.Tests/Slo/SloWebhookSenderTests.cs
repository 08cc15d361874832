using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Sluice.Core.Inference;
using Sluice.Server.Hosting;
using Sluice.Server.Slo;
using Sluice.Server.Tests.TestSupport;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Spec;

namespace Sluice.Server.Tests.Slo;

public sealed class SloWebhookSenderTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Send_ReceiverKeepsFailing_GivesUpAfterFourTriesAndSendsTheNextNotification()
    {
        await using var receiver = await WebhookReceiver.StartAsync(failFirst: 4);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 10, TimeSpan.Zero));
        var evaluator = new SloEvaluator([new SloSpec
        {
            Name = "adder-availability",
            Model = "adder",
            Objective = 0.99,
            Window = TimeSpan.FromDays(1),
            BudgetingMethod = BudgetingMethod.Occurrences,
            Sli = new AvailabilitySli(AvailabilitySli.ServerSideFailures),
            Alerting = AlertingSpec.Default with
            {
                Page = AlertSeverityPolicy.DefaultPage with { For = TimeSpan.FromMinutes(1) },
                Ticket = AlertSeverityPolicy.DefaultTicket with { Enabled = false },
            },
        }], clock);
        var options = Options.Create(new SluiceServerOptions { ListenAddress = "127.0.0.1", HttpPort = 8000, SloWebhookUrl = receiver.Url.ToString() });
        var settings = new SloHostingSettings { Clock = clock, WebhookFirstRetryDelay = TimeSpan.FromMilliseconds(10) };
        using var sender = new SloWebhookSender(evaluator, new SluiceListeners(), options, settings, NullLogger<SloWebhookSender>.Instance);
        await sender.StartAsync(CancellationToken.None).WaitAsync(Timeout);

        // :: firing: refused 4 times (the bounded retry), then dropped
        for (int i = 0; i < 10; i++)
        {
            evaluator.Record(new RequestOutcome("adder", "1", InferenceError.RuntimeFailure, default, default, default, default, 0));
        }

        clock.Advance(TimeSpan.FromSeconds(30));
        evaluator.Evaluate();   // pending
        clock.Advance(TimeSpan.FromMinutes(1));
        evaluator.Evaluate();   // firing
        await Conditions.WaitUntilAsync(() => receiver.Posts >= 4, Timeout, "the firing notification was tried 4 times");

        // :: resolved (the 30m window has lost the failures): sent at its first try, after the firing one was given up
        clock.Advance(TimeSpan.FromMinutes(31));
        evaluator.Evaluate();
        var accepted = await receiver.Accepted.Reader.ReadAsync().AsTask().WaitAsync(Timeout);

        Assert.Equal("resolved", (string)accepted["status"]!);
        Assert.Equal(5, receiver.Posts);
        Assert.Equal("http://127.0.0.1:8000", (string)accepted["externalURL"]!);
        await sender.StopAsync(CancellationToken.None).WaitAsync(Timeout);
    }

    [Fact]
    public async Task Start_NoWebhookUrl_SenderEndsAtOnceWithoutBeingStopped()
    {
        var clock = new FakeTimeProvider();
        var evaluator = new SloEvaluator([], clock);
        var options = Options.Create(new SluiceServerOptions());
        using var sender = new SloWebhookSender(evaluator, new SluiceListeners(), options, new SloHostingSettings { Clock = clock },
            NullLogger<SloWebhookSender>.Instance);

        await sender.StartAsync(CancellationToken.None).WaitAsync(Timeout);

        await sender.ExecuteTask!.WaitAsync(Timeout);   // nothing to read, nothing to send: done before any stop

        Assert.True(sender.ExecuteTask.IsCompletedSuccessfully);
        await sender.StopAsync(CancellationToken.None).WaitAsync(Timeout);
    }
}
