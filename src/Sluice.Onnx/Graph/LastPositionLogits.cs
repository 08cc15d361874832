using Sluice.Onnx.Build;
using Sluice.Onnx.Graph.Proto;

namespace Sluice.Onnx.Graph;

/// <summary>
/// Rewrites a decoder so its vocabulary projection runs on the last position of each row only: a <c>Slice</c> keeps
/// position T-1 of the hidden states that feed the MatMul producing <c>logits</c>, which becomes <c>[batch, 1, vocab]</c>.
/// </summary>
/// <remarks>
/// ONNX Runtime runs every node of a graph whatever outputs a caller fetches, so a prefill step that never reads the logits
/// still pays the vocabulary projection for every prompt token; for a small decoder that projection is most of the model
/// (tiny-llama: hidden 64, vocabulary 50257; 9 prompts of 64 tokens took 10.1 ms with it, 1.5-1.9 ms without). This
/// is the rewrite Hugging Face exposes as <c>logits_to_keep</c>. Graphs whose logits are not a plain rank-3 MatMul are left
/// alone (the reason says why) and keep working, only without the saving.
/// </remarks>
public static class LastPositionLogits
{
    /// <summary>The decoder convention's logits output.</summary>
    public const string LogitsOutput = "logits";

    /// <summary>
    /// Applies the rewrite to <paramref name="model"/> in place. Returns null when applied, else why not (the model is then
    /// unchanged).
    /// </summary>
    public static string? TryApply(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph;
        var declared = graph.Output.FirstOrDefault(o => o.Name == LogitsOutput);
        if (declared is null)
        {
            return $"the graph has no output '{LogitsOutput}'";
        }

        var shape = declared.Type?.TensorType?.Shape;
        if (shape is null || shape.Dim.Count != 3)
        {
            return $"'{LogitsOutput}' is not declared as rank 3 [batch, sequence, vocab]";
        }

        var index = -1;
        for (var i = 0; i < graph.Node.Count && index < 0; i++)
        {
            if (graph.Node[i].Output.Contains(LogitsOutput))
            {
                index = i;
            }
        }

        if (index < 0)
        {
            return $"no node produces '{LogitsOutput}'";
        }

        var projection = graph.Node[index];
        if (projection.OpType != "MatMul" || projection.Domain is not ("" or "ai.onnx"))
        {
            return $"'{LogitsOutput}' comes from {projection.OpType}, not MatMul";
        }

        if (OnnxModelFile.DefaultOpset(model) < 10)
        {
            return "the model's opset is below 10 (Slice with inputs)";
        }

        var hidden = projection.Input[0];
        if (graph.Initializer.Any(t => t.Name == hidden) || graph.Input.Any(v => v.Name == hidden))
        {
            return $"the projection's input '{hidden}' is not computed by the graph";
        }

        var used = OnnxModelFile.UsedNames(graph);
        var starts = OnnxModelFile.UniqueName(used, "sluice_last_position_starts");
        var ends = OnnxModelFile.UniqueName(used, "sluice_last_position_ends");
        var axes = OnnxModelFile.UniqueName(used, "sluice_last_position_axes");
        var sliced = OnnxModelFile.UniqueName(used, hidden + "/last_position");
        graph.Initializer.Add(OnnxModelFile.Constant<long>(starts, TensorProto.Types.DataType.Int64, [-1L], 1));
        graph.Initializer.Add(OnnxModelFile.Constant<long>(ends, TensorProto.Types.DataType.Int64, [long.MaxValue], 1));
        graph.Initializer.Add(OnnxModelFile.Constant<long>(axes, TensorProto.Types.DataType.Int64, [1L], 1));
        var slice = new NodeProto { Name = OnnxModelFile.UniqueName(used, "sluice_last_position"), OpType = "Slice" };
        slice.Input.Add(hidden);
        slice.Input.Add(starts);
        slice.Input.Add(ends);
        slice.Input.Add(axes);
        slice.Output.Add(sliced);
        graph.Node.Insert(index, slice);
        projection.Input[0] = sliced;
        shape.Dim[1] = new TensorShapeProto.Types.Dimension { DimValue = 1 };
        return null;
    }

    /// <summary>
    /// Writes the rewritten copy of the model at <paramref name="modelPath"/> into a new temporary folder (same file name),
    /// or returns null with <paramref name="reason"/> when the model cannot take the rewrite. Dispose the result once a
    /// session has loaded it: that deletes the copy.
    /// </summary>
    public static RewrittenModel? TryWrite(string modelPath, out string reason)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelPath);
        try
        {
            return Write(modelPath, out reason);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Google.Protobuf.InvalidProtocolBufferException)
        {
            // The unmodified model still loads (ONNX Runtime reads it itself); only the saving is lost.
            reason = $"the copy could not be made ({e.Message})";
            return null;
        }
    }

    private static RewrittenModel? Write(string modelPath, out string reason)
    {
        if (new FileInfo(modelPath).Length >= int.MaxValue)
        {
            reason = "the model file is over 2 GB";
            return null;
        }

        var model = OnnxModelFile.Read(modelPath);
        if (model.Graph.Initializer.Any(t => t.DataLocation == TensorProto.Types.DataLocation.External))
        {
            reason = "its weights are in external data files";
            return null;
        }

        if (TryApply(model) is { } why)
        {
            reason = why;
            return null;
        }

        var folder = Directory.CreateTempSubdirectory("sluice-decoder-");
        try
        {
            var path = Path.Combine(folder.FullName, Path.GetFileName(modelPath));
            OnnxModelFile.Write(model, path);
            reason = "";
            return new RewrittenModel(path);
        }
        catch
        {
            folder.Delete(recursive: true);
            throw;
        }
    }
}

/// <summary>A temporary rewritten model file; disposing deletes its folder.</summary>
/// <param name="Path">The model file.</param>
public sealed record RewrittenModel(string Path) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            Directory.Delete(System.IO.Path.GetDirectoryName(Path)!, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover temporary file is harmless; the session already holds the model (and a throw here would leak it).
        }
    }
}
