using System.Globalization;
using System.Text;
using System.Text.Json;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;
using Sluice.Onnx.Profiling;

namespace Sluice.Engine.Profiling;

/// <summary>How to profile.</summary>
/// <param name="Runs">Measured runs.</param>
/// <param name="WarmupRuns">Unmeasured runs first (allocations, lazy initialisation).</param>
/// <param name="Top">How many nodes the report lists.</param>
/// <param name="BatchSize">Batch size of synthetic inputs (models that batch).</param>
/// <param name="DynamicDimension">Size given to other variable dimensions of synthetic inputs (e.g. sequence length).</param>
public sealed record ProfileSettings(int Runs = 20, int WarmupRuns = 3, int Top = 10, int BatchSize = 1, int DynamicDimension = 128);

/// <summary>A per-layer profile of one model version.</summary>
/// <param name="InputSource"><c>recent</c> (inputs of recent requests) or <c>synthetic</c> (zeros shaped from the metadata).</param>
public sealed record ModelProfileReport(string Model, string Version, string InputSource, LayerProfile Profile, int Top)
{
    /// <summary>The report as JSON: totals, then the top nodes and every operator type.</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("model", Model);
            json.WriteString("version", Version);
            json.WriteString("input_source", InputSource);
            json.WriteNumber("runs", Profile.Runs);
            json.WriteNumber("run_mean_us", Math.Round(Profile.RunMeanMicroseconds, 1));
            json.WriteNumber("kernel_us_per_run", Math.Round(Profile.KernelMicrosecondsPerRun, 1));
            json.WriteNumber("node_count", Profile.Nodes.Count);
            WriteTimes(json, "top_nodes", Profile.Nodes.Take(Top));
            WriteTimes(json, "op_types", Profile.OpTypes);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The report as a readable text table.</summary>
    public string ToTable()
    {
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.AppendLine(c, $"model {Model} version {Version}: {Profile.Runs} runs ({InputSource} inputs), mean run {Profile.RunMeanMicroseconds / 1000:F2} ms, kernels {Profile.KernelMicrosecondsPerRun / 1000:F2} ms/run, {Profile.Nodes.Count} nodes");
        text.AppendLine();
        Table(text, $"top {Math.Min(Top, Profile.Nodes.Count)} nodes", Profile.Nodes.Take(Top));
        text.AppendLine();
        Table(text, "operator types", Profile.OpTypes);
        return text.ToString();
    }

    private static void Table(StringBuilder text, string title, IEnumerable<LayerTime> rows)
    {
        var c = CultureInfo.InvariantCulture;
        var list = rows.ToList();
        var width = Math.Max(10, list.Count == 0 ? 0 : list.Max(r => r.Name.Length));
        text.AppendLine(title);
        text.AppendLine(c, $"{"name".PadRight(width)}  {"op_type",-20} {"count",7} {"total_ms",10} {"mean_us",10} {"p50_us",10} {"share",7}");
        foreach (var row in list)
        {
            text.AppendLine(c, $"{row.Name.PadRight(width)}  {row.OpType,-20} {row.Count,7} {row.TotalMicroseconds / 1000,10:F3} {row.MeanMicroseconds,10:F1} {row.P50Microseconds,10:F1} {row.Share * 100,6:F1}%");
        }
    }

    private void WriteTimes(Utf8JsonWriter json, string name, IEnumerable<LayerTime> rows)
    {
        json.WriteStartArray(name);
        foreach (var row in rows)
        {
            json.WriteStartObject();
            json.WriteString("name", row.Name);
            json.WriteString("op_type", row.OpType);
            json.WriteNumber("count", row.Count);
            json.WriteNumber("total_us", Math.Round(row.TotalMicroseconds, 1));
            json.WriteNumber("mean_us", Math.Round(row.MeanMicroseconds, 2));
            json.WriteNumber("p50_us", Math.Round(row.P50Microseconds, 2));
            json.WriteNumber("share", Math.Round(row.Share, 5));
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }
}

/// <summary>
/// Profiles a model file per layer with ONNX Runtime's profiler, on a session of its own, with given or synthetic inputs.
/// </summary>
public static class ModelProfiler
{
    /// <summary>Profiles one model file. Runs on the calling thread (seconds for big models): call it off the request path.</summary>
    public static ModelProfileReport Profile(
        string model, string version, string modelPath, ModelConfig config, string executionProvider,
        IReadOnlyList<IReadOnlyList<TensorData>> recentInputs, ProfileSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(settings);
        var usable = recentInputs.Where(set => set.All(t => t.DataType != DataType.Bytes)).ToList();
        var source = usable.Count > 0 ? "recent" : "synthetic";
        IReadOnlyList<IReadOnlyList<TensorData>> inputs = usable.Count > 0 ? usable : [SyntheticInputs(config, settings)];
        var profile = OnnxLayerProfiler.Profile(modelPath, config.Execution, executionProvider, inputs, settings.Runs, settings.WarmupRuns, cancellationToken);
        return new ModelProfileReport(model, version, source, profile, settings.Top);
    }

    /// <summary>Zeros shaped from the config: batch dimension <see cref="ProfileSettings.BatchSize"/>, other variable ones
    /// <see cref="ProfileSettings.DynamicDimension"/>.</summary>
    public static IReadOnlyList<TensorData> SyntheticInputs(ModelConfig config, ProfileSettings settings)
    {
        var inputs = new List<TensorData>(config.Inputs.Count);
        foreach (var input in config.Inputs)
        {
            if (input.DataType == DataType.Bytes)
            {
                throw new InferenceException(InferenceError.InvalidInput, $"inputs: '{input.Name}' is BYTES; synthetic profiling inputs are numeric only");
            }

            long[] shape = config.MaxBatchSize > 0 ? [settings.BatchSize, .. input.Dims] : [.. input.Dims];
            for (var i = 0; i < shape.Length; i++)
            {
                if (shape[i] < 0)
                {
                    shape[i] = settings.DynamicDimension;
                }
            }

            TensorShape.TryGetElementCount(shape, out var count);
            inputs.Add(new TensorData(input.Name, input.DataType, shape, new byte[checked(count * input.DataType.ElementSize())]));
        }

        return inputs;
    }
}
