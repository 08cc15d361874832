using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Sluice.Core.Tensors;
using Sluice.Onnx.Graph;

namespace Sluice.Onnx.Tests.Graph;

/// <summary>
/// Runs a <see cref="LlamaModelWriter"/> model on ONNX Runtime's CPU provider the way a shared-KV-buffer runner does: one
/// pinned buffer per layer and key/value, <c>[rows, kv_heads, max_len, head_dim]</c>, allocated once; each run binds
/// past and present of a layer to the same <see cref="OrtValue"/> over rows <c>[firstRow, firstRow + batch)</c> of it,
/// so GroupQueryAttention writes the new keys and values in place.
/// </summary>
internal sealed class SharedKvSession : IDisposable
{
    private readonly LlamaModelConfig _config;
    private readonly int _rows;
    private readonly int _maxLen;
    private readonly byte[][] _keys;
    private readonly byte[][] _values;
    private readonly TensorElementType _type;

    public SharedKvSession(string modelPath, LlamaModelConfig config, int rows, int? maxLen = null)
    {
        _config = config;
        _rows = rows;
        _maxLen = maxLen ?? config.MaxPosition;
        Session = new InferenceSession(modelPath);
        _type = config.ElementType == DataType.Fp16 ? TensorElementType.Float16 : TensorElementType.Float;
        var bytes = (long)rows * RowElements * config.ElementSize;
        _keys = Enumerable.Range(0, config.Layers).Select(_ => GC.AllocateArray<byte>(checked((int)bytes), pinned: true)).ToArray();
        _values = Enumerable.Range(0, config.Layers).Select(_ => GC.AllocateArray<byte>(checked((int)bytes), pinned: true)).ToArray();
    }

    public InferenceSession Session { get; }

    private long RowElements => (long)_config.KvHeads * _maxLen * _config.ResolvedHeadDim;

    /// <summary>
    /// One run over rows <c>[firstRow, firstRow + batch)</c>: <paramref name="ids"/> <c>[batch, seq]</c> row-major,
    /// <paramref name="seqlensK"/> per row; returns the logits <c>[batch, seq, vocab]</c> as FP32.
    /// </summary>
    public float[] Run(int firstRow, int batch, long[] ids, int[] seqlensK, int total)
    {
        if (firstRow < 0 || firstRow + batch > _rows || ids.Length % batch != 0 || seqlensK.Length != batch)
        {
            throw new ArgumentException("Rows, ids or seqlens_k do not fit the buffer.");
        }

        var seq = ids.Length / batch;
        var logits = GC.AllocateArray<byte>(batch * seq * _config.Vocab * _config.ElementSize, pinned: true);
        var totalArray = GC.AllocateArray<int>(1, pinned: true);
        totalArray[0] = total;
        var owned = new List<OrtValue>();
        try
        {
            using var binding = Session.CreateIoBinding();
            using var runOptions = new RunOptions();
            owned.Add(OrtValue.CreateTensorValueFromMemory(ids, [batch, seq]));
            binding.BindInput("input_ids", owned[^1]);
            owned.Add(OrtValue.CreateTensorValueFromMemory(seqlensK, [batch]));
            binding.BindInput("seqlens_k", owned[^1]);
            owned.Add(OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, totalArray.AsMemory(), []));
            binding.BindInput("total_sequence_length", owned[^1]);
            long[] kvShape = [batch, _config.KvHeads, _maxLen, _config.ResolvedHeadDim];
            var rowBytes = RowElements * _config.ElementSize;
            for (var layer = 0; layer < _config.Layers; layer++)
            {
                owned.Add(View(_keys[layer], firstRow * rowBytes, kvShape));
                binding.BindInput(LlamaModelWriter.PastKeyName(layer), owned[^1]);
                binding.BindOutput(LlamaModelWriter.PresentKeyName(layer), owned[^1]);
                owned.Add(View(_values[layer], firstRow * rowBytes, kvShape));
                binding.BindInput(LlamaModelWriter.PastValueName(layer), owned[^1]);
                binding.BindOutput(LlamaModelWriter.PresentValueName(layer), owned[^1]);
            }

            owned.Add(View(logits, 0, [batch, seq, _config.Vocab]));
            binding.BindOutput("logits", owned[^1]);
            Session.RunWithBinding(runOptions, binding);
        }
        finally
        {
            foreach (var value in owned)
            {
                value.Dispose();
            }
        }

        return ToFloat(logits);
    }

    /// <summary>Keys of <paramref name="layer"/>, row <paramref name="row"/>, KV head <paramref name="kvHead"/>, position <paramref name="position"/> as FP32.</summary>
    public float[] Key(int layer, int row, int kvHead, int position)
    {
        var hd = _config.ResolvedHeadDim;
        var start = ((row * _config.KvHeads + kvHead) * (long)_maxLen + position) * hd * _config.ElementSize;
        return ToFloat(_keys[layer].AsSpan((int)start, hd * _config.ElementSize).ToArray());
    }

    public void Dispose() => Session.Dispose();

    private OrtValue View(byte[] pinned, long byteOffset, long[] shape)
    {
        var pointer = Marshal.UnsafeAddrOfPinnedArrayElement(pinned, 0) + (nint)byteOffset;
        var bytes = shape.Aggregate(1L, (a, b) => a * b) * _config.ElementSize;
        return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, _type, shape, pointer, bytes);
    }

    private float[] ToFloat(byte[] bytes)
    {
        if (_config.ElementType == DataType.Fp32)
        {
            return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
        }

        var halves = MemoryMarshal.Cast<byte, Half>(bytes);
        var result = new float[halves.Length];
        for (var i = 0; i < halves.Length; i++)
        {
            result[i] = (float)halves[i];
        }

        return result;
    }
}
