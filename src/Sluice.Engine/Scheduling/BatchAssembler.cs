using System.Buffers.Binary;
using Sluice.Core.Inference;
using Sluice.Core.Tensors;

namespace Sluice.Engine.Scheduling;

/// <summary>
/// Joins the inputs of a batch's requests along the batch dimension (one copy per input) and splits the outputs back by each
/// request's row count (slices of the output buffers, no copy). BYTES tensors join by concatenation, since their elements are
/// self-delimiting, and split by walking the length prefixes.
/// </summary>
internal static class BatchAssembler
{
    /// <summary>One tensor per model input, rows of every request in batch order. A batch of one passes its inputs through.</summary>
    public static IReadOnlyList<TensorData> Concatenate(IReadOnlyList<PendingRequest> batch, int totalRows)
    {
        var first = batch[0];
        if (batch.Count == 1)
        {
            return first.OrderedInputs;
        }

        var inputs = new TensorData[first.OrderedInputs.Count];
        for (var i = 0; i < inputs.Length; i++)
        {
            var template = first.OrderedInputs[i];
            var length = 0;
            foreach (var request in batch)
            {
                length = checked(length + request.OrderedInputs[i].Data.Length);
            }

            var data = GC.AllocateUninitializedArray<byte>(length);
            var offset = 0;
            foreach (var request in batch)
            {
                var source = request.OrderedInputs[i].Data.Span;
                source.CopyTo(data.AsSpan(offset));
                offset += source.Length;
            }

            var shape = (long[])template.Shape.Clone();
            shape[0] = totalRows;
            inputs[i] = new TensorData(template.Name, template.DataType, shape, data);
        }

        return inputs;
    }

    /// <summary>
    /// The outputs of one request: for each of its output names, rows [<paramref name="rowOffset"/>, +<paramref name="rows"/>) of
    /// the batch's output. With <paramref name="wholeBatch"/> (a batch of one request) the outputs pass through as they are.
    /// </summary>
    public static TensorData[] Split(
        IReadOnlyDictionary<string, TensorData> batchOutputs, PendingRequest request, int rowOffset, int rows, int totalRows, bool wholeBatch)
    {
        var outputs = new TensorData[request.OutputNames.Count];
        for (var i = 0; i < outputs.Length; i++)
        {
            var name = request.OutputNames[i];
            if (!batchOutputs.TryGetValue(name, out var output))
            {
                throw new InferenceException(InferenceError.RuntimeFailure, $"output '{name}': the backend returned no such output");
            }

            outputs[i] = wholeBatch ? output : Slice(output, rowOffset, rows, totalRows);
        }

        return outputs;
    }

    private static TensorData Slice(TensorData output, int rowOffset, int rows, int totalRows)
    {
        if (output.Shape.Length == 0 || output.Shape[0] != totalRows)
        {
            throw new InferenceException(
                InferenceError.RuntimeFailure,
                $"output '{output.Name}': shape {TensorShape.Format(output.Shape)} has no batch dimension of {totalRows} to split");
        }

        var shape = (long[])output.Shape.Clone();
        shape[0] = rows;
        if (output.DataType != DataType.Bytes)
        {
            var rowBytes = output.Data.Length / totalRows;
            return new TensorData(output.Name, output.DataType, shape, output.Data.Slice(rowOffset * rowBytes, rows * rowBytes));
        }

        var elementsPerRow = output.ElementCount / totalRows;
        var span = output.Data.Span;
        var start = SkipElements(span, 0, rowOffset * elementsPerRow, output.Name);
        var end = SkipElements(span, start, rows * elementsPerRow, output.Name);
        return new TensorData(output.Name, output.DataType, shape, output.Data[start..end]);
    }

    /// <summary>The byte offset after <paramref name="count"/> length-prefixed elements starting at <paramref name="offset"/>.</summary>
    private static int SkipElements(ReadOnlySpan<byte> data, int offset, long count, string name)
    {
        for (long i = 0; i < count; i++)
        {
            if (data.Length - offset < 4)
            {
                throw new InferenceException(InferenceError.RuntimeFailure, $"output '{name}': BYTES data ends inside an element");
            }

            var length = BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]);
            if (length > (uint)(data.Length - offset - 4))
            {
                throw new InferenceException(InferenceError.RuntimeFailure, $"output '{name}': BYTES element longer than the data");
            }

            offset += 4 + (int)length;
        }

        return offset;
    }
}
