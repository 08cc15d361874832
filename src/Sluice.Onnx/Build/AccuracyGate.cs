namespace Sluice.Onnx.Build;

/// <summary>How the accuracy gate compares the built engine's outputs with the original's.</summary>
public enum GateMetric
{
    /// <summary>Cosine similarity of embeddings: rank-3 outputs [batch, seq, dim] mean-pooled over seq (masked when the
    /// model has an attention mask), rank-2 outputs per row. The gate value is the mean over rows.</summary>
    Cosine,
    /// <summary>Agreement of the arg-max over the last dimension (classifiers); max absolute error is reported too.</summary>
    Top1,
}

/// <summary>The comparison of one output.</summary>
public sealed record OutputAccuracy(string Output, double Value, double Minimum, double MeanTokenCosine, double MaxAbsError);

/// <summary>The accuracy gate's verdict.</summary>
public sealed record AccuracyReport(string Metric, double Threshold, double Value, bool Passed, int Samples, IReadOnlyList<OutputAccuracy> Outputs);

/// <summary>The original model's outputs on the held-out samples, measured once and compared with each candidate.</summary>
public sealed record GateReference(IReadOnlyList<InputSample> Samples, IReadOnlyList<IReadOnlyList<OutputValues>> Outputs)
{
    public static GateReference Measure(string originalPath, IReadOnlyList<InputSample> samples)
    {
        using var original = new ModelExecutor(originalPath);
        return new GateReference(samples, [.. samples.Select(s => original.Run(s.Inputs))]);
    }
}

/// <summary>Runs the original and the built model on held-out samples and compares their float outputs.</summary>
public static class AccuracyGate
{
    public static GateMetric ParseMetric(string name) => name.Trim().ToLowerInvariant() switch
    {
        "cosine" => GateMetric.Cosine,
        "top1" or "top-1" => GateMetric.Top1,
        _ => throw new ArgumentException($"Gate metric '{name}' is not one of cosine, top1."),
    };

    public static AccuracyReport Evaluate(string originalPath, string builtPath, IReadOnlyList<InputSample> samples, GateMetric metric,
        double threshold, Action<string>? progress = null)
    {
        var reference = GateReference.Measure(originalPath, samples);
        return Evaluate(reference, builtPath, metric, threshold, progress);
    }

    /// <summary>Compares <paramref name="builtPath"/> with outputs of the original measured once.</summary>
    public static AccuracyReport Evaluate(GateReference reference, string builtPath, GateMetric metric, double threshold, Action<string>? progress = null)
    {
        using var built = new ModelExecutor(builtPath);
        var samples = reference.Samples;
        var perOutput = new Dictionary<string, List<(double Value, double TokenCosine, double MaxAbs)>>(StringComparer.Ordinal);
        for (var s = 0; s < samples.Count; s++)
        {
            var sample = samples[s];
            var mask = sample.Inputs.FirstOrDefault(i => i.Name.Contains("mask", StringComparison.OrdinalIgnoreCase) && i.Shape.Length == 2);
            var expected = reference.Outputs[s];
            var actual = built.Run(sample.Inputs);
            foreach (var want in expected)
            {
                var have = actual.First(a => a.Name == want.Name);
                if (!perOutput.TryGetValue(want.Name, out var list))
                {
                    perOutput[want.Name] = list = [];
                }

                var maxAbs = MaxAbsError(want.Values, have.Values);
                var lastDim = want.Shape.Length > 0 ? (int)want.Shape[^1] : 1;
                var tokenCosine = lastDim > 1 ? RowCosines(want.Values, have.Values, lastDim).Average() : double.NaN;
                if (metric == GateMetric.Top1)
                {
                    foreach (var agree in Top1Agreement(want.Values, have.Values, lastDim))
                    {
                        list.Add((agree, tokenCosine, maxAbs));
                    }
                }
                else
                {
                    var (x, y, dim) = want.Shape.Length == 3
                        ? (MeanPool(want.Values, want.Shape, mask), MeanPool(have.Values, have.Shape, mask), lastDim)
                        : (want.Values, have.Values, lastDim);
                    if (dim <= 1)
                    {
                        dim = x.Length;   // scalar per row (e.g. a score): compare the whole column as one vector
                    }

                    foreach (var cosine in RowCosines(x, y, dim))
                    {
                        list.Add((cosine, tokenCosine, maxAbs));
                    }
                }
            }

            progress?.Invoke($"accuracy gate: sample {s + 1}/{samples.Count}");
        }

        var outputs = perOutput.Select(p => new OutputAccuracy(p.Key,
            p.Value.Average(v => v.Value), p.Value.Min(v => v.Value), p.Value.Average(v => v.TokenCosine), p.Value.Max(v => v.MaxAbs))).ToList();
        var value = outputs.Count == 0 ? double.NaN : outputs.Min(o => o.Value);
        var name = metric == GateMetric.Top1 ? "top1" : "cosine";
        return new AccuracyReport(name, threshold, value, value >= threshold, samples.Count, outputs);
    }

    /// <summary>Cosine similarity of each <paramref name="dim"/>-long row of two equally shaped buffers.</summary>
    public static IEnumerable<double> RowCosines(float[] x, float[] y, int dim)
    {
        for (var start = 0; start + dim <= x.Length; start += dim)
        {
            double xy = 0, xx = 0, yy = 0;
            for (var i = start; i < start + dim; i++)
            {
                xy += (double)x[i] * y[i];
                xx += (double)x[i] * x[i];
                yy += (double)y[i] * y[i];
            }

            yield return xx == 0 && yy == 0 ? 1 : xx == 0 || yy == 0 ? 0 : xy / Math.Sqrt(xx * yy);
        }
    }

    /// <summary>Mean over axis 1 of a [batch, seq, dim] buffer, counting only positions where <paramref name="mask"/> is non-zero.</summary>
    public static float[] MeanPool(float[] values, long[] shape, Sluice.Core.Tensors.TensorData? mask)
    {
        var (batch, seq, dim) = ((int)shape[0], (int)shape[1], (int)shape[2]);
        long[]? maskValues = mask is { DataType: Sluice.Core.Tensors.DataType.Int64 } && mask.Shape[0] == batch && mask.Shape[1] == seq ? mask.ToArray<long>() : null;
        var pooled = new float[batch * dim];
        for (var b = 0; b < batch; b++)
        {
            var count = 0;
            for (var s = 0; s < seq; s++)
            {
                if (maskValues is not null && maskValues[b * seq + s] == 0)
                {
                    continue;
                }

                count++;
                for (var d = 0; d < dim; d++)
                {
                    pooled[b * dim + d] += values[(b * seq + s) * dim + d];
                }
            }

            for (var d = 0; d < dim; d++)
            {
                pooled[b * dim + d] /= Math.Max(count, 1);
            }
        }

        return pooled;
    }

    private static IEnumerable<double> Top1Agreement(float[] x, float[] y, int dim)
    {
        for (var start = 0; start + dim <= x.Length; start += dim)
        {
            yield return ArgMax(x, start, dim) == ArgMax(y, start, dim) ? 1 : 0;
        }
    }

    private static int ArgMax(float[] values, int start, int length)
    {
        var best = start;
        for (var i = start + 1; i < start + length; i++)
        {
            if (values[i] > values[best]) best = i;
        }

        return best - start;
    }

    private static double MaxAbsError(float[] x, float[] y)
    {
        double max = 0;
        for (var i = 0; i < Math.Min(x.Length, y.Length); i++)
        {
            max = Math.Max(max, Math.Abs((double)x[i] - y[i]));
        }

        return max;
    }
}
