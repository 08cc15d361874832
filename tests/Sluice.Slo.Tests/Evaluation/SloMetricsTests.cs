using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Sluice.Core.Inference;
using Sluice.Slo.Evaluation;
using Sluice.Slo.Tests.TestSupport;

namespace Sluice.Slo.Tests.Evaluation;

public sealed class SloMetricsTests
{
    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, scope: this);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose() => _meters.ForEach(m => m.Dispose());
    }

    [Fact]
    public void EventsCounter_AfterBurst_EqualsTheClassifiedCountsWithBothOutcomesPresent()
    {
        using var factory = new TestMeterFactory();
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Slos.Availability()], clock);
        using var metrics = new SloMetrics(factory, evaluator);
        using var collector = new MetricCollector<long>(factory, SloMetrics.MeterName, "sluice_slo_events");

        collector.RecordObservableInstruments();
        var before = collector.GetMeasurementSnapshot();
        for (int i = 0; i < 7; i++)
        {
            evaluator.Record(Slos.Success());
        }

        evaluator.Record(Slos.Failure(InferenceError.QueueTimeout));
        evaluator.Record(Slos.Failure(InferenceError.Canceled));   // not counted
        collector.RecordObservableInstruments();

        Assert.Equal([0L, 0L], before.Select(m => m.Value));
        var last = collector.GetMeasurementSnapshot().TakeLast(2).ToDictionary(m => (string)m.Tags["outcome"]!, m => m.Value);
        Assert.Equal(7, last["good"]);
        Assert.Equal(1, last["bad"]);
    }

    [Fact]
    public void AlertTransitions_Counted_ByStateEntered()
    {
        using var factory = new TestMeterFactory();
        var clock = new FakeTimeProvider(Slos.Start);
        var evaluator = new SloEvaluator([Slos.Availability(pageFor: TimeSpan.Zero)], clock);
        using var metrics = new SloMetrics(factory, evaluator);
        using var collector = new MetricCollector<long>(factory, SloMetrics.MeterName, "sluice_slo_alert_transitions");

        Slos.Drive(clock, evaluator, 1, 0, 10);   // 100% bad: the page fires at once (for: 0)

        var firing = Assert.Single(collector.GetMeasurementSnapshot(), m => (string)m.Tags["severity"]! == "page");
        Assert.Equal("firing", firing.Tags["state"]);
        Assert.Equal("avail", firing.Tags["slo"]);
    }
}
