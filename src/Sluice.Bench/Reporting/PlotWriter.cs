using System.Globalization;
using ScottPlot;

namespace Sluice.Bench.Reporting;

/// <summary>
/// The report's charts (ScottPlot, rendered headless through SkiaSharp), each as PNG and SVG:
/// latency percentiles against throughput across the sweep, the latency CDF of every step, and the server-side
/// breakdown (queue, compute input, infer, output) per step.
/// </summary>
public static class PlotWriter
{
    private const int Width = 900;
    private const int Height = 560;

    /// <summary>Writes the plots that the report has data for; returns the files written.</summary>
    public static IReadOnlyList<string> Write(BenchReport report, string directory)
    {
        ArgumentNullException.ThrowIfNull(report);
        var files = new List<string>();
        if (report.Steps.Count == 0)
        {
            return files;
        }

        files.AddRange(Save(LatencyVsThroughput(report), directory, "latency_throughput"));
        files.AddRange(Save(LatencyCdf(report), directory, "latency_cdf"));
        if (report.Steps.Any(s => s.Server is { Success.Count: > 0 }))
        {
            files.AddRange(Save(ServerBreakdown(report), directory, "server_breakdown"));
        }

        return files;
    }

    private static string[] Save(Plot plot, string directory, string name)
    {
        var png = Path.Combine(directory, name + ".png");
        var svg = Path.Combine(directory, name + ".svg");
        plot.SavePng(png, Width, Height);
        plot.SaveSvg(svg, Width, Height);
        return [png, svg];
    }

    /// <summary>
    /// p50/p90/p99/p99.9 client latency (ms, log scale: past saturation latencies grow by orders of magnitude) against
    /// achieved inferences/s, one point per step, joined in load order and labelled with the step's load.
    /// </summary>
    public static Plot LatencyVsThroughput(BenchReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var plot = new Plot();
        // In load order: the curve bends back on itself past saturation (more load, no more throughput), as it should show.
        var steps = report.Steps.OrderBy(s => s.Level.Value).ToArray();
        var x = steps.Select(s => s.InferencesPerSecond).ToArray();
        foreach (var p in (double[])[50, 90, 99, 99.9])
        {
            var scatter = plot.Add.Scatter(x, steps.Select(s => Log(s.LatencyMs(p))).ToArray());
            scatter.LegendText = "p" + p.ToString("0.#", CultureInfo.InvariantCulture);
            scatter.MarkerSize = 6;
        }

        foreach (var step in steps)
        {
            // Name each step at its p99 point, so the load behind every throughput is readable.
            var label = plot.Add.Text(step.Level.IsOpenLoop ? Load.LoadSweep.Format(step.Level.Rate!.Value) + "/s" : "c" + step.Level.Concurrency,
                step.InferencesPerSecond, Log(step.LatencyMs(99)));
            label.LabelFontSize = 11;
            label.LabelOffsetX = 6;
            label.LabelOffsetY = -14;
        }

        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Math.Pow(10, y).ToString("0.###", CultureInfo.InvariantCulture),
        };
        plot.Title($"{report.Model} ({report.Protocol}): latency vs throughput");
        plot.XLabel("throughput (inferences/s)");
        plot.YLabel("client latency (ms, log scale)");
        plot.ShowLegend(Alignment.LowerRight);   // past saturation the curve bends back to the upper left
        return plot;

        static double Log(double ms) => Math.Log10(Math.Max(ms, 0.001));
    }

    /// <summary>Cumulative share of requests against client latency (ms, log scale), one line per step.</summary>
    public static Plot LatencyCdf(BenchReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var plot = new Plot();
        foreach (var step in report.Steps)
        {
            var cdf = step.Recorder.Client.Cdf();
            if (cdf.Count == 0)
            {
                continue;
            }

            var line = plot.Add.ScatterLine(cdf.Select(p => Math.Log10(Math.Max(p.ValueUs, 1) / 1000.0)).ToArray(), cdf.Select(p => p.Fraction * 100).ToArray());
            line.LegendText = step.Level.ToString();
        }

        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = x => Math.Pow(10, x).ToString("0.###", CultureInfo.InvariantCulture),
        };
        plot.Title($"{report.Model} ({report.Protocol}): client latency CDF");
        plot.XLabel("client latency (ms, log scale)");
        plot.YLabel("requests at or below (%)");
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }

    /// <summary>Mean server-side time per request (ms) per step, stacked: queue, compute input, compute infer, compute output.</summary>
    public static Plot ServerBreakdown(BenchReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var plot = new Plot();
        (string Name, Color Color, Func<Measurement.ServerStatistics, double> Value)[] parts =
        [
            ("queue", Colors.SteelBlue, s => s.Queue.MeanUs),
            ("compute input", Colors.Orange, s => s.ComputeInput.MeanUs),
            ("compute infer", Colors.SeaGreen, s => s.ComputeInfer.MeanUs),
            ("compute output", Colors.IndianRed, s => s.ComputeOutput.MeanUs),
        ];
        var ticks = new List<Tick>();
        for (int i = 0; i < report.Steps.Count; i++)
        {
            var step = report.Steps[i];
            ticks.Add(new Tick(i, step.Level.IsOpenLoop ? LoadSweep(step.Level.Rate!.Value) + "/s" : "c" + step.Level.Concurrency));
            if (step.Server is not { Success.Count: > 0 } server)
            {
                continue;
            }

            double bottom = 0;
            foreach (var (_, color, value) in parts)
            {
                var v = value(server) / 1000;
                plot.Add.Bar(new Bar { Position = i, ValueBase = bottom, Value = bottom + v, FillColor = color });
                bottom += v;
            }
        }

        foreach (var (name, color, _) in parts)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = name, FillColor = color });
        }

        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title($"{report.Model}: server-side time per request (statistics deltas)");
        plot.XLabel("step");
        plot.YLabel("mean time per request (ms)");
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }

    private static string LoadSweep(double value) => Load.LoadSweep.Format(value);
}
