using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Build;

/// <summary>
/// Measures activation ranges: a temporary copy of the model lists the tensors of interest as extra graph outputs and runs
/// on the representative data with ONNX Runtime. Min-max needs one pass; percentile and entropy a second one that fills a
/// histogram of absolute values over [0, max |x|].
/// </summary>
public static class ActivationCalibrator
{
    /// <summary>Bins of the absolute-value histogram (TensorRT uses 2048).</summary>
    public const int Bins = 2048;

    /// <summary>Quantized levels on one side of zero, as TensorRT's entropy calibrator counts them.</summary>
    private const int Levels = 128;

    public static CalibrationTable Calibrate(ModelProto model, IReadOnlyList<string> tensors, IReadOnlyList<InputSample> samples,
        CalibrationMethod method, double percentile, string scratchDirectory, Action<string>? progress = null)
    {
        var instrumented = model.Clone();
        var existing = instrumented.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in tensors.Where(t => !existing.Contains(t)))
        {
            instrumented.Graph.Output.Add(new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        }

        Directory.CreateDirectory(scratchDirectory);
        var path = Path.Combine(scratchDirectory, $"calibration-{Guid.NewGuid():N}.onnx");
        OnnxModelFile.Write(instrumented, path);
        try
        {
            using var executor = new ModelExecutor(path, "basic");
            var min = tensors.ToDictionary(t => t, _ => float.PositiveInfinity);
            var max = tensors.ToDictionary(t => t, _ => float.NegativeInfinity);
            for (var s = 0; s < samples.Count; s++)
            {
                foreach (var output in executor.Run(samples[s].Inputs, tensors))
                {
                    foreach (var v in output.Values)
                    {
                        if (v < min[output.Name]) min[output.Name] = v;
                        if (v > max[output.Name]) max[output.Name] = v;
                    }
                }

                progress?.Invoke($"calibration pass 1: sample {s + 1}/{samples.Count}");
            }

            var ranges = new SortedDictionary<string, TensorRange>(StringComparer.Ordinal);
            if (method == CalibrationMethod.MinMax)
            {
                foreach (var t in tensors)
                {
                    ranges[t] = new TensorRange(Math.Min(min[t], 0), Math.Max(max[t], 0));
                }
            }
            else
            {
                var absMax = tensors.ToDictionary(t => t, t => Math.Max(Math.Abs(min[t]), Math.Abs(max[t])));
                var histograms = tensors.ToDictionary(t => t, _ => new long[Bins]);
                for (var s = 0; s < samples.Count; s++)
                {
                    foreach (var output in executor.Run(samples[s].Inputs, tensors))
                    {
                        var histogram = histograms[output.Name];
                        var width = absMax[output.Name] / Bins;
                        if (width <= 0)
                        {
                            continue;
                        }

                        foreach (var v in output.Values)
                        {
                            histogram[Math.Min(Bins - 1, (int)(Math.Abs(v) / width))]++;
                        }
                    }

                    progress?.Invoke($"calibration pass 2: sample {s + 1}/{samples.Count}");
                }

                foreach (var t in tensors)
                {
                    var width = absMax[t] / Bins;
                    var threshold = width <= 0 ? 0 : method == CalibrationMethod.Percentile
                        ? PercentileThreshold(histograms[t], percentile) * width
                        : EntropyThreshold(histograms[t]) * width;
                    ranges[t] = new TensorRange(Math.Max(Math.Min(min[t], 0), -(float)threshold), Math.Min(Math.Max(max[t], 0), (float)threshold));
                }
            }

            return new CalibrationTable
            {
                Method = CalibrationTable.Name(method),
                Percentile = method == CalibrationMethod.Percentile ? percentile : null,
                Samples = samples.Count,
                Ranges = ranges,
            };
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The upper edge, in bins, below which <paramref name="percentile"/> % of the counts lie.</summary>
    public static double PercentileThreshold(long[] histogram, double percentile)
    {
        var total = histogram.Sum();
        var target = total * percentile / 100.0;
        long cumulative = 0;
        for (var i = 0; i < histogram.Length; i++)
        {
            cumulative += histogram[i];
            if (cumulative >= target)
            {
                return i + 1;
            }
        }

        return histogram.Length;
    }

    /// <summary>
    /// TensorRT's entropy calibration: for each candidate clip point i (from 128 bins up), P is the histogram clipped at i
    /// (outliers added to the last bin), Q is P's first i bins merged into 128 levels and spread back over the non-empty
    /// bins; the i with the smallest KL(P || Q) wins. Returns the threshold in bins (i + 0.5).
    /// </summary>
    public static double EntropyThreshold(long[] histogram)
    {
        var bins = histogram.Length;
        var bestDivergence = double.PositiveInfinity;
        var bestIndex = bins;
        var p = new double[bins];
        var q = new double[bins];
        long tail = histogram.Sum();
        for (var i = 0; i < Levels; i++)
        {
            tail -= histogram[i];
        }

        for (var i = Levels; i <= bins; i++)
        {
            for (var j = 0; j < i; j++)
            {
                p[j] = histogram[j];
            }

            p[i - 1] += tail;   // outliers clipped into the last kept bin
            if (i < bins)
            {
                tail -= histogram[i];
            }

            // Quantize the first i bins of the unclipped histogram into Levels groups and expand back.
            var groupSize = (double)i / Levels;
            for (var level = 0; level < Levels; level++)
            {
                var start = (int)Math.Floor(level * groupSize);
                var end = level == Levels - 1 ? i : (int)Math.Floor((level + 1) * groupSize);
                double sum = 0;
                var nonEmpty = 0;
                for (var j = start; j < end; j++)
                {
                    sum += histogram[j];
                    if (histogram[j] != 0) nonEmpty++;
                }

                for (var j = start; j < end; j++)
                {
                    q[j] = histogram[j] == 0 || nonEmpty == 0 ? 0 : sum / nonEmpty;
                }
            }

            var divergence = KlDivergence(p, q, i);
            if (divergence < bestDivergence)
            {
                bestDivergence = divergence;
                bestIndex = i;
            }
        }

        return bestIndex + 0.5;
    }

    private static double KlDivergence(double[] p, double[] q, int length)
    {
        double pSum = 0, qSum = 0;
        for (var j = 0; j < length; j++)
        {
            pSum += p[j];
            qSum += q[j];
        }

        if (pSum <= 0 || qSum <= 0)
        {
            return double.PositiveInfinity;
        }

        const double epsilon = 1e-12;
        double divergence = 0;
        for (var j = 0; j < length; j++)
        {
            if (p[j] <= 0)
            {
                continue;
            }

            var pj = p[j] / pSum;
            var qj = Math.Max(q[j] / qSum, epsilon);
            divergence += pj * Math.Log(pj / qj);
        }

        return divergence;
    }
}
