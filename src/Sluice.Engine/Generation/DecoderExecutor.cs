using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;

namespace Sluice.Engine.Generation;

/// <summary>One sequence's share of a decoder run: <paramref name="Count"/> tokens starting at cache position <paramref name="Start"/>.</summary>
internal readonly record struct StepItem(Sequence Sequence, int Start, int Count);

/// <summary>
/// Runs one forward pass of a decoder in the common explicit-KV-cache convention (<c>input_ids</c>, <c>attention_mask</c>,
/// <c>position_ids</c>, <c>past_key_values.{i}.key/.value</c> in; <c>logits</c>, <c>present.{i}.key/.value</c> out) for a
/// batch of sequences at different lengths.
/// </summary>
/// <remarks>
/// Layout of a batch of B sequences with cached lengths L_b, each adding t_b tokens, P = max L_b, T = max t_b:
/// sequence b's past fills columns [0, L_b) of <c>past [B, kv_heads, P, head_dim]</c> (the rest is zero padding, masked out);
/// its new tokens are rows [0, t_b) of <c>input_ids [B, T]</c> at positions L_b + i, which the model places at columns
/// P + i of the present. The attention mask over the P + T columns is 1 on [0, L_b) and [P, P + t_b): a new token sees its own
/// past and, causally, its own new tokens, never padding. The new keys and values (present columns P..P+t_b) go back to the
/// sequence's cache blocks; only the logits of each sequence's last new token are kept.
/// </remarks>
internal sealed class DecoderExecutor
{
    private readonly IModelRunner _runner;
    private readonly KvCachePool _cache;
    private readonly int _layers;
    private readonly int _vocab;
    private readonly bool _hasPositionIds;
    private readonly DataType _kvType;
    private readonly string[] _outputNames;
    private readonly string[] _presentNames;
    private readonly DataType _logitsType;
    private readonly string[] _pastNames;
    private readonly bool _lastPositionLogits;
    private byte[][] _outputBuffers = [];
    private PinnedFloats? _logitsOutput;
    private float[] _logitsScratch = [];

    /// <param name="runner">The loaded decoder.</param>
    /// <param name="signature">Its inputs and outputs.</param>
    /// <param name="cache">The block pool.</param>
    /// <param name="settings">Its decoder settings.</param>
    /// <param name="lastPositionLogits">True when the runner's model computes logits for each row's last position only
    /// (<see cref="Sluice.Onnx.Graph.LastPositionLogits"/>): <c>[batch, 1, vocab]</c>.</param>
    public DecoderExecutor(IModelRunner runner, ModelSignature signature, KvCachePool cache, DecoderModelSettings settings, bool lastPositionLogits = false)
    {
        _runner = runner;
        _lastPositionLogits = lastPositionLogits;
        _cache = cache;
        _layers = settings.Layers;
        _vocab = settings.VocabSize;
        _kvType = settings.KvElementSize == 2 ? DataType.Fp16 : DataType.Fp32;
        var inputs = signature.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var outputs = signature.Outputs.ToDictionary(o => o.Name, StringComparer.Ordinal);
        foreach (var required in new[] { "input_ids", "attention_mask" })
        {
            if (!inputs.Contains(required))
            {
                throw LoadFailed(settings, $"the model has no input '{required}'");
            }
        }

        _hasPositionIds = inputs.Contains("position_ids");
        _pastNames = new string[_layers * 2];
        _outputNames = new string[1 + _layers * 2];
        _outputNames[0] = "logits";
        if (!outputs.TryGetValue("logits", out var logits))
        {
            throw LoadFailed(settings, "the model has no output 'logits'");
        }

        for (var layer = 0; layer < _layers; layer++)
        {
            for (var kv = 0; kv < 2; kv++)
            {
                var suffix = kv == 0 ? "key" : "value";
                var past = $"past_key_values.{layer}.{suffix}";
                var present = $"present.{layer}.{suffix}";
                if (!inputs.Contains(past) || !outputs.ContainsKey(present))
                {
                    throw LoadFailed(settings, $"decoder_config.json says {_layers} layers but the model lacks '{past}' or '{present}'");
                }

                _pastNames[layer * 2 + kv] = past;
                _outputNames[1 + layer * 2 + kv] = present;
            }
        }

        _presentNames = _outputNames[1..];
        _logitsType = logits.DataType;
        if (inputs.Count != 2 + (_hasPositionIds ? 1 : 0) + _layers * 2)
        {
            throw LoadFailed(settings, $"the model has inputs beyond the decoder convention: {string.Join(", ", inputs.Order(StringComparer.Ordinal))}");
        }
    }

    /// <summary>
    /// Runs the batch. With <paramref name="withLogits"/> returns each item's last-token logits, row b at
    /// <c>[b * vocab, (b + 1) * vocab)</c> of an array the executor owns and reuses (valid until the next run); FP32 logits
    /// of one position per row are the runner's output buffer itself, so nothing is copied. Without, only the keys and values
    /// are fetched and an empty array is returned (with <see cref="Sluice.Onnx.Graph.LastPositionLogits"/> the vocabulary projection then
    /// costs one position per row). Cache blocks for the new positions must have been allocated (see <see cref="EnsureBlocks"/>).
    /// </summary>
    public async ValueTask<float[]> RunAsync(IReadOnlyList<StepItem> items, bool withLogits, CancellationToken cancellationToken)
    {
        var batch = items.Count;
        var newTokens = 0;
        var past = 0;
        foreach (var item in items)
        {
            newTokens = Math.Max(newTokens, item.Count);
            past = Math.Max(past, item.Start);
        }

        var total = past + newTokens;
        for (var b = 0; b < batch && _lastPositionLogits && withLogits; b++)
        {
            // Row b's logits are those of position newTokens - 1, a real token only when every row fills the step.
            if (items[b].Count != newTokens)
            {
                throw new InvalidOperationException("A model with last-position logits needs equal new-token counts in a step that returns logits.");
            }
        }

        var logitsRows = _lastPositionLogits ? 1 : newTokens;
        var heads = _cache.KvHeads;
        var headDim = _cache.HeadDim;
        var rented = new List<byte[]>(4 + _pastNames.Length);
        try
        {
            var inputs = BuildInputs(items, rented, batch, newTokens, past, total);
            var result = await _runner.RunIntoAsync(inputs, OutputBuffers(withLogits, batch, logitsRows, total), cancellationToken).ConfigureAwait(false);
            var first = withLogits ? 1 : 0;
            var logits = withLogits ? LastTokenLogits(items, result.Outputs[0].Data.Span, newTokens, logitsRows) : [];

            // Scatter the new keys and values into the cache blocks.
            for (var layer = 0; layer < _layers; layer++)
            {
                for (var kv = 0; kv < 2; kv++)
                {
                    var present = result.Outputs[first + layer * 2 + kv];
                    if (present.Shape.Length != 4 || present.Shape[2] != total)
                    {
                        throw new InferenceException(InferenceError.RuntimeFailure,
                            $"Output '{present.Name}' has shape {TensorShape.Format(present.Shape)}; expected [{batch}, {heads}, {total}, {headDim}].");
                    }

                    for (var b = 0; b < batch; b++)
                    {
                        Scatter(items[b], layer, kv, present.Data.Span, b, past, total);
                    }
                }
            }

            return logits;
        }
        finally
        {
            foreach (var buffer in rented)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Each item's last-token logits as floats, row per item: the output buffer itself when it already is that.</summary>
    private float[] LastTokenLogits(IReadOnlyList<StepItem> items, ReadOnlySpan<byte> output, int newTokens, int logitsRows)
    {
        var batch = items.Count;
        if (_logitsType == DataType.Fp32 && logitsRows == 1)
        {
            return _logitsOutput!.Array;   // the run wrote it there
        }

        if (_logitsScratch.Length < batch * _vocab)
        {
            _logitsScratch = new float[batch * _vocab];
        }

        for (var b = 0; b < batch; b++)
        {
            var rowIndex = logitsRows == 1 ? b : (long)b * newTokens + items[b].Count - 1;
            var target = _logitsScratch.AsSpan(b * _vocab, _vocab);
            if (_logitsType == DataType.Fp16)
            {
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(output).Slice((int)(rowIndex * _vocab), _vocab), target);
            }
            else
            {
                MemoryMarshal.Cast<byte, float>(output).Slice((int)(rowIndex * _vocab), _vocab).CopyTo(target);
            }
        }

        return _logitsScratch;
    }

    /// <summary>Allocates the blocks that positions up to <paramref name="end"/> need, from the sequence's reservation.</summary>
    public void EnsureBlocks(Sequence sequence, int end)
    {
        var needed = _cache.BlocksFor(end);
        while (sequence.Blocks.Count < needed)
        {
            sequence.Blocks.Add(_cache.Allocate());
        }
    }

    private void Gather(StepItem item, int layer, int kv, Span<byte> past, int b, int pastLength)
    {
        var heads = _cache.KvHeads;
        var rowBytes = _cache.HeadDim * _cache.ElementSize;
        var blockSize = _cache.BlockSize;
        var length = item.Start;
        for (var h = 0; h < heads; h++)
        {
            var headBase = ((long)b * heads + h) * pastLength * rowBytes;
            for (var start = 0; start < length; start += blockSize)
            {
                var count = Math.Min(blockSize, length - start);
                var run = _cache.Run(item.Sequence.Blocks[start / blockSize], layer, kv, h)[..(count * rowBytes)];
                run.CopyTo(past.Slice((int)(headBase + (long)start * rowBytes), count * rowBytes));
            }
        }
    }

    private void Scatter(StepItem item, int layer, int kv, ReadOnlySpan<byte> present, int b, int pastLength, int total)
    {
        var heads = _cache.KvHeads;
        var rowBytes = _cache.HeadDim * _cache.ElementSize;
        var blockSize = _cache.BlockSize;
        for (var h = 0; h < heads; h++)
        {
            var headBase = ((long)b * heads + h) * total * rowBytes;
            var i = 0;
            while (i < item.Count)
            {
                var position = item.Start + i;
                var offset = position % blockSize;
                var count = Math.Min(blockSize - offset, item.Count - i);   // contiguous in both source and block
                var source = present.Slice((int)(headBase + (long)(pastLength + i) * rowBytes), count * rowBytes);
                source.CopyTo(_cache.Run(item.Sequence.Blocks[position / blockSize], layer, kv, h)[(offset * rowBytes)..]);
                i += count;
            }
        }
    }

    /// <summary>The step's output buffers (logits when wanted, then every present), grown as needed and reused.</summary>
    private TensorData[] OutputBuffers(bool withLogits, int batch, int logitsRows, int total)
    {
        var names = withLogits ? _outputNames : _presentNames;
        if (_outputBuffers.Length < _outputNames.Length)
        {
            _outputBuffers = new byte[_outputNames.Length][];
        }

        var outputs = new TensorData[names.Length];
        var presentBytes = (long)batch * _cache.KvHeads * total * _cache.HeadDim * _cache.ElementSize;
        for (var i = 0; i < names.Length; i++)
        {
            var isLogits = withLogits && i == 0;
            var slot = withLogits ? i : i + 1;
            var bytes = checked((int)(isLogits ? (long)batch * logitsRows * _vocab * (_logitsType == DataType.Fp16 ? 2 : 4) : presentBytes));
            if (isLogits && _logitsType == DataType.Fp32 && logitsRows == 1)
            {
                // Written where the sampler reads it (see LastTokenLogits).
                if (_logitsOutput is null || _logitsOutput.Array.Length < batch * _vocab)
                {
                    _logitsOutput = new PinnedFloats(batch * _vocab);
                }

                outputs[i] = new TensorData(names[i], _logitsType, [batch, 1, _vocab], _logitsOutput.Memory[..bytes]);
                continue;
            }

            if (_outputBuffers[slot] is not { } buffer || buffer.Length < bytes)
            {
                buffer = GC.AllocateUninitializedArray<byte>(Math.Max(bytes, 1) * 5 / 4, pinned: true);   // headroom: lengths grow a token a step
                _outputBuffers[slot] = buffer;
            }

            outputs[i] = isLogits
                ? new TensorData(names[i], _logitsType, [batch, logitsRows, _vocab], buffer.AsMemory(0, bytes))
                : new TensorData(names[i], _kvType, [batch, _cache.KvHeads, total, _cache.HeadDim], buffer.AsMemory(0, bytes));
        }

        return outputs;
    }

    private List<TensorData> BuildInputs(IReadOnlyList<StepItem> items, List<byte[]> rented, int batch, int newTokens, int past, int total)
    {
        var heads = _cache.KvHeads;
        var headDim = _cache.HeadDim;
        var element = _cache.ElementSize;
        var inputs = new List<TensorData>(3 + _pastNames.Length);
        var idsBuffer = RentLongs(rented, batch * newTokens);
        var positionsBuffer = RentLongs(rented, batch * newTokens);
        var maskBuffer = RentLongs(rented, batch * total);
        var ids = MemoryMarshal.Cast<byte, long>(idsBuffer.Span);
        var positions = MemoryMarshal.Cast<byte, long>(positionsBuffer.Span);
        var mask = MemoryMarshal.Cast<byte, long>(maskBuffer.Span);
        for (var b = 0; b < batch; b++)
        {
            var item = items[b];
            var tokens = CollectionsMarshal.AsSpan(item.Sequence.Tokens);
            for (var i = 0; i < newTokens; i++)
            {
                var real = i < item.Count;
                ids[b * newTokens + i] = real ? tokens[item.Start + i] : 0;
                positions[b * newTokens + i] = item.Start + Math.Min(i, item.Count - 1);
            }

            var row = mask.Slice(b * total, total);
            row[..item.Start].Fill(1);
            row[past..(past + item.Count)].Fill(1);
        }

        inputs.Add(new TensorData("input_ids", DataType.Int64, [batch, newTokens], idsBuffer));
        inputs.Add(new TensorData("attention_mask", DataType.Int64, [batch, total], maskBuffer));
        if (_hasPositionIds)
        {
            inputs.Add(new TensorData("position_ids", DataType.Int64, [batch, newTokens], positionsBuffer));
        }

        // Gather each sequence's cached keys and values into the padded past tensors.
        var pastBytes = checked((int)((long)batch * heads * past * headDim * element));
        for (var layer = 0; layer < _layers; layer++)
        {
            for (var kv = 0; kv < 2; kv++)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, pastBytes));
                rented.Add(buffer);
                var span = buffer.AsSpan(0, pastBytes);
                span.Clear();
                for (var b = 0; b < batch; b++)
                {
                    Gather(items[b], layer, kv, span, b, past);
                }

                inputs.Add(new TensorData(_pastNames[layer * 2 + kv], _kvType, [batch, heads, past, headDim], buffer.AsMemory(0, pastBytes)));
            }
        }

        return inputs;
    }

    private static Memory<byte> RentLongs(List<byte[]> rented, int count)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(8, count * 8));
        rented.Add(buffer);
        var memory = buffer.AsMemory(0, count * 8);
        memory.Span.Clear();
        return memory;
    }

    private static InferenceException LoadFailed(DecoderModelSettings settings, string what) =>
        new(InferenceError.LoadFailed, $"Decoder model '{settings.Name}': {what}.");
}
