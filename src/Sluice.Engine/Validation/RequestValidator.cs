using System.Buffers.Binary;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;

namespace Sluice.Engine.Validation;

/// <summary>A request checked against its model: inputs in the model's order, outputs to return, rows in the batch dimension.</summary>
internal readonly record struct ValidatedRequest(IReadOnlyList<TensorData> OrderedInputs, IReadOnlyList<string> OutputNames, int Rows);

/// <summary>
/// Checks a request against its model's configuration before it is queued, so nothing malformed reaches a runner. Every failure
/// is an <see cref="InferenceException"/> with <see cref="InferenceError.InvalidInput"/> whose message names the field.
/// </summary>
/// <remarks>
/// <list type="number">
/// <item>every declared input present exactly once; no unknown inputs;</item>
/// <item>data type equal to the declared one;</item>
/// <item>rank and fixed dimensions equal to the declared ones (-1 matches any size); with batching, a first (batch) dimension
/// within 1..max_batch_size, equal across inputs;</item>
/// <item>data length equal to the overflow-checked element count × element size; for BYTES, every length prefix within the
/// data and exactly one element per shape position;</item>
/// <item>requested outputs exist, each asked for once.</item>
/// </list>
/// </remarks>
internal sealed class RequestValidator(ModelConfig config, Sluice.Onnx.Build.ShapeProfile? shapeProfile = null)
{
    /// <summary>The engine's declared min/max shapes (from <c>sluice build --shapes</c>); requests outside them are refused.</summary>
    private readonly Sluice.Onnx.Build.ShapeProfile? _shapeProfile = shapeProfile is { Inputs.Count: > 0 } ? shapeProfile : null;

    private readonly Dictionary<string, int> _inputIndex =
        config.Inputs.Select((input, index) => (input.Name, index)).ToDictionary(p => p.Name, p => p.index, StringComparer.Ordinal);

    private readonly HashSet<string> _outputNames = config.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);

    private readonly string[] _allOutputs = config.Outputs.Select(o => o.Name).ToArray();

    /// <summary>Validates; throws <see cref="InferenceException"/> (InvalidInput) naming the offending field.</summary>
    public ValidatedRequest Validate(InferenceRequest request)
    {
        var batched = config.MaxBatchSize > 0;
        var ordered = new TensorData[config.Inputs.Count];
        if (request.Inputs is null || request.Inputs.Count == 0)
        {
            throw Invalid($"inputs: the request has no inputs; model '{config.Name}' expects {Names(config.Inputs)}");
        }

        foreach (var input in request.Inputs)
        {
            if (input is null)
            {
                throw Invalid("inputs: an input is null");
            }

            if (!_inputIndex.TryGetValue(input.Name, out var index))
            {
                throw Invalid($"input '{Printable(input.Name)}': model '{config.Name}' has no such input (expected {Names(config.Inputs)})");
            }

            if (ordered[index] is not null)
            {
                throw Invalid($"input '{input.Name}': given more than once");
            }

            ordered[index] = input;
        }

        for (var i = 0; i < ordered.Length; i++)
        {
            if (ordered[i] is null)
            {
                throw Invalid($"input '{config.Inputs[i].Name}': missing (model '{config.Name}' expects {Names(config.Inputs)})");
            }
        }

        long rows = 1;
        for (var i = 0; i < ordered.Length; i++)
        {
            var input = ordered[i];
            var declared = config.Inputs[i];
            if (input.DataType != declared.DataType)
            {
                throw Invalid($"input '{input.Name}': expected datatype {declared.DataType.ToKServeName()}, got {SafeName(input.DataType)}");
            }

            var shape = input.Shape;
            var expectedRank = declared.Dims.Length + (batched ? 1 : 0);
            if (shape.Length != expectedRank)
            {
                throw Invalid($"input '{input.Name}': expected shape {ExpectedShape(declared, batched)} (rank {expectedRank}), got {TensorShape.Format(shape)} (rank {shape.Length})");
            }

            foreach (var dim in shape)
            {
                if (dim < 0)
                {
                    throw Invalid($"input '{input.Name}': shape {TensorShape.Format(shape)} has a negative dimension");
                }
            }

            if (batched)
            {
                var batch = shape[0];
                if (batch < 1 || batch > config.MaxBatchSize)
                {
                    throw Invalid($"input '{input.Name}': batch size (first dimension) must be within 1..{config.MaxBatchSize}, got {batch}");
                }

                if (i == 0)
                {
                    rows = batch;
                }
                else if (batch != rows)
                {
                    throw Invalid($"input '{input.Name}': batch size {batch} differs from input '{ordered[0].Name}''s {rows}");
                }
            }

            for (var d = 0; d < declared.Dims.Length; d++)
            {
                var expected = declared.Dims[d];
                var actual = shape[d + (batched ? 1 : 0)];
                if (expected >= 0 && expected != actual)
                {
                    throw Invalid($"input '{input.Name}': expected shape {ExpectedShape(declared, batched)}, got {TensorShape.Format(shape)}");
                }
            }

            CheckData(input);
        }

        if (_shapeProfile is not null)
        {
            foreach (var input in ordered)
            {
                if (_shapeProfile.Check(input) is { } outside)
                {
                    throw Invalid(outside);
                }
            }
        }

        return new ValidatedRequest(ordered, Outputs(request), (int)rows);
    }

    private IReadOnlyList<string> Outputs(InferenceRequest request)
    {
        if (request.Outputs is null || request.Outputs.Count == 0)
        {
            return _allOutputs;
        }

        var names = new string[request.Outputs.Count];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < names.Length; i++)
        {
            var name = request.Outputs[i]?.Name ?? "";
            if (!_outputNames.Contains(name))
            {
                throw Invalid($"output '{Printable(name)}': model '{config.Name}' has no such output (it has {string.Join(", ", _allOutputs)})");
            }

            if (!seen.Add(name))
            {
                throw Invalid($"output '{name}': requested more than once");
            }

            names[i] = name;
        }

        return names;
    }

    private static void CheckData(TensorData input)
    {
        if (!TensorShape.TryGetElementCount(input.Shape, out var count))
        {
            throw Invalid($"input '{input.Name}': shape {TensorShape.Format(input.Shape)} has too many elements");
        }

        var data = input.Data.Span;
        if (input.DataType != DataType.Bytes)
        {
            if (!TensorShape.TryGetByteSize(input.DataType, input.Shape, out var bytes))
            {
                throw Invalid($"input '{input.Name}': shape {TensorShape.Format(input.Shape)} is too large");
            }

            if (bytes != data.Length)
            {
                throw Invalid($"input '{input.Name}': shape {TensorShape.Format(input.Shape)} of {input.DataType.ToKServeName()} needs {bytes} bytes, got {data.Length}");
            }

            return;
        }

        // BYTES: each element is a 4-byte little-endian length, then that many bytes.
        long elements = 0;
        var offset = 0;
        while (offset < data.Length)
        {
            if (data.Length - offset < 4)
            {
                throw Invalid($"input '{input.Name}': BYTES element {elements} has a truncated 4-byte length prefix");
            }

            var length = BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]);
            offset += 4;
            if (length > (uint)(data.Length - offset))
            {
                throw Invalid($"input '{input.Name}': BYTES element {elements} claims {length} bytes, only {data.Length - offset} remain");
            }

            offset += (int)length;
            elements++;
        }

        if (elements != count)
        {
            throw Invalid($"input '{input.Name}': shape {TensorShape.Format(input.Shape)} needs {count} BYTES elements, got {elements}");
        }
    }

    private static string ExpectedShape(TensorConfig declared, bool batched) =>
        TensorShape.Format(batched ? [-1, .. declared.Dims] : declared.Dims);

    private static string Names(IReadOnlyList<TensorConfig> tensors) => string.Join(", ", tensors.Select(t => $"'{t.Name}'"));

    private static string SafeName(DataType type) => Enum.IsDefined(type) && type != DataType.Invalid ? type.ToKServeName() : "an invalid datatype";

    /// <summary>Client text echoed in messages without control characters, and cut short.</summary>
    private static string Printable(string text)
    {
        var cleaned = new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return cleaned.Length > 64 ? cleaned[..64] + "…" : cleaned;
    }

    private static InferenceException Invalid(string message) => new(InferenceError.InvalidInput, message);
}
