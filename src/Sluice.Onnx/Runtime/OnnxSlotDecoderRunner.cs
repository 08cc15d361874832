using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Sluice.Core.Configuration;
using Sluice.Core.Generation;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Onnx.Graph;

namespace Sluice.Onnx.Runtime;

/// <summary>
/// Runs a decoder in the shared-KV-buffer layout (ONNX Runtime's GroupQueryAttention with past and present bound to one
/// buffer): inputs <c>input_ids [b, s]</c>, <c>seqlens_k [b]</c> (total length after the step minus one),
/// <c>total_sequence_length</c> (CPU scalar), <c>past_key_values.{i}.key/.value [b, kv_heads, max_len, head_dim]</c>;
/// outputs <c>logits [b, s, vocab]</c> and <c>present.{i}.key/.value</c>, bound to the same buffers as the past so the model
/// writes new keys and values in place.
/// </summary>
/// <remarks>
/// One buffer per layer and key/value holds all slots (<c>[slots, kv_heads, max_len, head_dim]</c>), allocated once on the
/// device (or host memory on CPU). A decode step over slots 0..n-1 binds views of the first n rows, so no key or value ever
/// moves; the engine keeps used slots contiguous with <see cref="MoveSlot"/>. Decode runs in batch buckets (1, 2, 4, 8, 16,
/// 24, 32, 48, 64, ...), each with its own IOBinding over fixed addresses and, with <c>enable_cuda_graph</c>, its own CUDA
/// graph (<c>gpu_graph_id</c>); unused rows of a bucket decode a dummy token at position 0 of a free slot. Prefill runs
/// without a graph (its shapes vary): one sequence over a view of its row, or the first chunks of prompts in consecutive
/// slots together (<see cref="PrefillPrompts"/>, GroupQueryAttention's right-padded first prompt).
/// </remarks>
internal sealed class OnnxSlotDecoderRunner : ISlotDecoderRunner
{
    private static readonly int[] s_bucketSizes = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256];

    private readonly SessionOptions _options;
    private readonly InferenceSession _session;
    private readonly DeviceMemory _memory;
    private readonly IDisposable? _ownedMemory;
    private readonly SlotDecoderSpec _spec;
    private readonly bool _cudaGraph;
    private readonly int _elementSize;
    private readonly TensorElementType _kvType;
    private readonly long _rowBytes;
    private readonly IntPtr[] _cache;        // layer*2 + (0 key, 1 value)
    private readonly string[] _pastNames;
    private readonly string[] _presentNames;
    private readonly int _maxPrefill;
    private readonly int _idsCapacity;       // tokens the ids and logits buffers hold: max(slots, max prefill)
    private readonly IntPtr _idsDevice;       // int64 [max(slots, maxPrefill)]
    private readonly IntPtr _idsStaging;
    private readonly IntPtr _seqlensDevice;   // int32 [slots]
    private readonly IntPtr _seqlensStaging;
    private readonly IntPtr _logitsDevice;    // T [max(slots, maxPrefill), vocab]
    private readonly IntPtr _logitsStaging;   // T [slots, vocab]
    private readonly IntPtr _nextDevice;      // int64 [max(slots, maxPrefill)]: the model's next_token output, when it has one
    private readonly IntPtr _nextStaging;     // int64 [slots]
    private readonly int[] _decodeTotal;      // pinned CPU scalars: decode runs keep max_len, so a captured graph stays valid
    private readonly int[] _prefillTotal;
    private readonly GCHandle _decodeTotalPin;
    private readonly GCHandle _prefillTotalPin;
    private readonly OrtValue _decodeTotalValue;
    private readonly Dictionary<int, DecodeBucket> _buckets = [];
    private readonly ILogger _logger;
    private bool _disposed;

    private OnnxSlotDecoderRunner(SessionOptions options, InferenceSession session, DeviceMemory memory, IDisposable? ownedMemory,
        SlotDecoderSpec spec, bool cudaGraph, ILogger logger)
    {
        HasArgMax = session.OutputMetadata.TryGetValue(LlamaModelWriter.NextTokenOutput, out var next) && next.ElementDataType == TensorElementType.Int64;
        _options = options;
        _session = session;
        _memory = memory;
        _ownedMemory = ownedMemory;
        _spec = spec;
        _cudaGraph = cudaGraph;
        _logger = logger;
        _elementSize = spec.Half ? 2 : 4;
        _kvType = spec.Half ? TensorElementType.Float16 : TensorElementType.Float;
        _rowBytes = (long)spec.KvHeads * spec.MaxLength * spec.HeadDim * _elementSize;
        _maxPrefill = Math.Min(spec.MaxLength, 2048);
        _pastNames = new string[spec.Layers * 2];
        _presentNames = new string[spec.Layers * 2];
        for (var layer = 0; layer < spec.Layers; layer++)
        {
            _pastNames[layer * 2] = $"past_key_values.{layer}.key";
            _pastNames[layer * 2 + 1] = $"past_key_values.{layer}.value";
            _presentNames[layer * 2] = $"present.{layer}.key";
            _presentNames[layer * 2 + 1] = $"present.{layer}.value";
        }

        _cache = new IntPtr[spec.Layers * 2];
        var tokens = Math.Max(spec.Slots, _maxPrefill);
        _idsCapacity = tokens;
        _idsDevice = memory.AllocateDevice(tokens * 8L);
        _idsStaging = memory.AllocateStaging(tokens * 8L);
        _seqlensDevice = memory.AllocateDevice(spec.Slots * 4L);
        _seqlensStaging = memory.AllocateStaging(spec.Slots * 4L);
        _logitsDevice = memory.AllocateDevice((long)tokens * spec.VocabSize * _elementSize);
        _logitsStaging = memory.AllocateStaging((long)spec.Slots * spec.VocabSize * _elementSize);
        if (HasArgMax)
        {
            _nextDevice = memory.AllocateDevice(tokens * 8L);
            _nextStaging = memory.AllocateStaging(spec.Slots * 8L);
        }
        for (var i = 0; i < _cache.Length; i++)
        {
            _cache[i] = memory.AllocateDevice(_rowBytes * spec.Slots);
        }

        _decodeTotal = [spec.MaxLength];
        _prefillTotal = [0];
        _decodeTotalPin = GCHandle.Alloc(_decodeTotal, GCHandleType.Pinned);
        _prefillTotalPin = GCHandle.Alloc(_prefillTotal, GCHandleType.Pinned);
        _decodeTotalValue = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Int32, [],
            _decodeTotalPin.AddrOfPinnedObject(), 4);
    }

    public int Slots => _spec.Slots;

    public bool HasArgMax { get; }

    public int SlotLength => _spec.MaxLength;

    public long CacheBytes => _rowBytes * _spec.Slots * _cache.Length;

    public string Description { get; private set; } = "";

    /// <summary>Loads the model and preallocates the cache. Throws <see cref="InferenceException"/> (LoadFailed).</summary>
    public static OnnxSlotDecoderRunner Load(string modelPath, SlotDecoderSpec spec, string provider, int deviceId,
        IReadOnlyDictionary<string, string> providerOptions, ILogger logger)
    {
        var execution = new ExecutionConfig { ExecutionProvider = provider, ProviderOptions = providerOptions };
        var settings = OnnxSessionSettings.From(execution, new RunnerPlacement(provider, deviceId, 0));
        var options = settings.CreateSessionOptions();
        InferenceSession? session = null;
        CudaDeviceMemory? cuda = null;
        try
        {
            session = OnnxModelBackend.OpenSession(modelPath, options);
            CheckSignature(session, spec);
            DeviceMemory memory = HostDeviceMemory.Instance;
            if (settings.Provider == OnnxExecutionProvider.Cuda)
            {
                cuda = new CudaDeviceMemory(deviceId);
                memory = cuda;
            }

            var runner = new OnnxSlotDecoderRunner(options, session, memory, cuda, spec, settings.CudaGraph && cuda is not null, logger)
            {
                Description = $"{settings.ProviderDisplayName}{(cuda is not null ? ":" + deviceId : "")}{(settings.CudaGraph && cuda is not null ? ", CUDA graphs" : "")}",
            };
            runner.ClearCache();
            return runner;
        }
        catch (Exception e) when (e is not InferenceException)
        {
            session?.Dispose();
            cuda?.Dispose();
            options.Dispose();
            throw new InferenceException(InferenceError.LoadFailed, $"Decoder model '{spec.Name}' could not be prepared: {e.Message}", e);
        }
        catch
        {
            session?.Dispose();
            cuda?.Dispose();
            options.Dispose();
            throw;
        }
    }

    private static void CheckSignature(InferenceSession session, SlotDecoderSpec spec)
    {
        var inputs = session.InputMetadata;
        var outputs = session.OutputMetadata;
        string[] required = ["input_ids", "seqlens_k", "total_sequence_length", "past_key_values.0.key"];
        foreach (var name in required)
        {
            if (!inputs.ContainsKey(name))
            {
                throw new InferenceException(InferenceError.LoadFailed,
                    $"Decoder model '{spec.Name}' declares kv_layout shared_buffer but has no input '{name}' (inputs: {string.Join(", ", inputs.Keys)}).");
            }
        }

        if (!outputs.ContainsKey("logits") || !outputs.ContainsKey($"present.{spec.Layers - 1}.value"))
        {
            throw new InferenceException(InferenceError.LoadFailed, $"Decoder model '{spec.Name}' lacks output 'logits' or 'present.{spec.Layers - 1}.value'.");
        }

        var past = inputs["past_key_values.0.key"];
        var dims = past.Dimensions;
        if (dims.Length != 4 || (dims[1] > 0 && dims[1] != spec.KvHeads) || (dims[3] > 0 && dims[3] != spec.HeadDim))
        {
            throw new InferenceException(InferenceError.LoadFailed,
                $"Decoder model '{spec.Name}': past_key_values.0.key has dims [{string.Join(", ", dims)}], expected [batch, {spec.KvHeads}, max_len, {spec.HeadDim}].");
        }

        var half = past.ElementDataType == TensorElementType.Float16;
        if (half != spec.Half)
        {
            throw new InferenceException(InferenceError.LoadFailed,
                $"Decoder model '{spec.Name}': its cache is {past.ElementDataType} but decoder_config.json says {(spec.Half ? "float16" : "float32")}.");
        }
    }

    public void Prefill(int slot, ReadOnlySpan<int> tokens, int start, Span<float> logits)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)slot, (uint)_spec.Slots, nameof(slot));
        var count = tokens.Length;
        if (count == 0 || count > _maxPrefill || start + count > _spec.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), $"prefill of {count} tokens at {start} does not fit (max {_maxPrefill} per call, {_spec.MaxLength} per slot)");
        }

        RunPrefill(slot, tokens, count, [start + count - 1], start + count);
        if (!logits.IsEmpty)
        {
            var rowBytes = (long)_spec.VocabSize * _elementSize;
            _memory.CopyToHost(_logitsStaging, _logitsDevice + (nint)((count - 1) * rowBytes), rowBytes);
            _memory.WaitForCopies();
            ReadLogits([0], logits);
        }
    }

    public void PrefillPrompts(int firstSlot, ReadOnlySpan<int> tokens, int width, ReadOnlySpan<int> lengths)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var rows = lengths.Length;
        if (rows == 0 || width < 1 || width > _maxPrefill || tokens.Length != rows * width)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), $"{tokens.Length} tokens are not {rows} rows of {width} (at most {_maxPrefill} per row)");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(firstSlot);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(firstSlot + rows, _spec.Slots, nameof(lengths));
        foreach (var length in lengths)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(length, 1, nameof(lengths));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(length, width, nameof(lengths));
        }

        // As many rows per run as the ids and logits buffers hold (max(slots, max prefill) tokens). A first prompt: each
        // row's seqlens_k is its own length - 1, the rest of the row is right padding, total_sequence_length the width.
        var perRun = Math.Max(1, _idsCapacity / width);
        for (var done = 0; done < rows; done += perRun)
        {
            var count = Math.Min(perRun, rows - done);
            var seqlens = new int[count];
            for (var r = 0; r < count; r++)
            {
                seqlens[r] = lengths[done + r] - 1;
            }

            RunPrefill(firstSlot + done, tokens.Slice(done * width, count * width), width, seqlens, width);
        }
    }

    /// <summary>
    /// Runs <paramref name="seqlens"/>.Length rows of <paramref name="width"/> new tokens for the slots from
    /// <paramref name="firstSlot"/> on (a view of those consecutive rows of every cache buffer), without a CUDA graph; the
    /// logits go to the preallocated device buffer (the graph computes them whether or not they are wanted).
    /// </summary>
    private void RunPrefill(int firstSlot, ReadOnlySpan<int> tokens, int width, ReadOnlySpan<int> seqlens, int total)
    {
        var rows = seqlens.Length;
        _memory.MakeCurrent();
        WriteIds(tokens);
        unsafe
        {
            seqlens.CopyTo(new Span<int>((void*)_seqlensStaging, rows));
        }

        _memory.CopyToDevice(_idsDevice, _idsStaging, tokens.Length * 8L);
        _memory.CopyToDevice(_seqlensDevice, _seqlensStaging, rows * 4L);
        _memory.WaitForCopies();
        _prefillTotal[0] = total;

        using var binding = _session.CreateIoBinding();
        var values = new List<OrtValue>(4 + _cache.Length);
        try
        {
            values.Add(Device(_idsDevice, TensorElementType.Int64, [rows, width], tokens.Length * 8L));
            binding.BindInput("input_ids", values[^1]);
            values.Add(Device(_seqlensDevice, TensorElementType.Int32, [rows], rows * 4L));
            binding.BindInput("seqlens_k", values[^1]);
            values.Add(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Int32, [],
                _prefillTotalPin.AddrOfPinnedObject(), 4));
            binding.BindInput("total_sequence_length", values[^1]);
            for (var i = 0; i < _cache.Length; i++)
            {
                values.Add(Device(_cache[i] + (nint)(_rowBytes * firstSlot), _kvType, [rows, _spec.KvHeads, _spec.MaxLength, _spec.HeadDim], _rowBytes * rows));
                binding.BindInput(_pastNames[i], values[^1]);
                binding.BindOutput(_presentNames[i], values[^1]);
            }

            values.Add(Device(_logitsDevice, _kvType, [rows, width, _spec.VocabSize], (long)tokens.Length * _spec.VocabSize * _elementSize));
            binding.BindOutput("logits", values[^1]);
            if (HasArgMax)
            {
                values.Add(Device(_nextDevice, TensorElementType.Int64, [rows, width], tokens.Length * 8L));
                binding.BindOutput(LlamaModelWriter.NextTokenOutput, values[^1]);
            }

            using var runOptions = new RunOptions();
            if (_cudaGraph)
            {
                runOptions.AddRunConfigEntry(DeviceBindingRunner.GraphIdRunOption, "-1");
            }

            using (CudaGraphCaptureGate.Enter(_memory.CaptureGate, exclusive: false))
            {
                Run(runOptions, binding);
            }
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    public void Decode(ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions, ReadOnlySpan<int> rows, Span<float> logits, Span<int> argmax)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var count = tokens.Length;
        if (count == 0 || count > _spec.Slots || positions.Length != count)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), $"decode of {count} slots (max {_spec.Slots})");
        }

        var anyLogits = false;
        foreach (var row in rows)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(row, -1, nameof(rows));
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, count, nameof(rows));
            anyLogits |= row >= 0;
        }

        if (HasArgMax && argmax.Length < count)
        {
            throw new ArgumentOutOfRangeException(nameof(argmax), $"argmax holds {argmax.Length} slots, the step has {count}");
        }

        var size = BucketFor(count);
        var bucket = Bucket(size);
        _memory.MakeCurrent();
        unsafe
        {
            var ids = new Span<long>((void*)_idsStaging, size);
            var seqlens = new Span<int>((void*)_seqlensStaging, size);
            for (var i = 0; i < size; i++)
            {
                ids[i] = i < count ? tokens[i] : 0;
                seqlens[i] = i < count ? positions[i] : 0;   // seqlens_k = position = cached length (total after the step - 1)
            }
        }

        _memory.CopyToDevice(_idsDevice, _idsStaging, size * 8L);
        _memory.CopyToDevice(_seqlensDevice, _seqlensStaging, size * 4L);
        _memory.WaitForCopies();
        var mayCapture = _cudaGraph && bucket.Runs < DeviceBindingRunner.CaptureWindowRuns;
        using (CudaGraphCaptureGate.Enter(_memory.CaptureGate, exclusive: mayCapture))
        {
            Run(bucket.RunOptions, bucket.Binding);
        }

        bucket.Runs++;
        if (anyLogits)
        {
            _memory.CopyToHost(_logitsStaging, _logitsDevice, (long)count * _spec.VocabSize * _elementSize);
        }

        if (HasArgMax)
        {
            _memory.CopyToHost(_nextStaging, _nextDevice, count * 8L);
        }

        _memory.WaitForCopies();
        ReadLogits(rows, logits);
        if (HasArgMax)
        {
            unsafe
            {
                var next = new ReadOnlySpan<long>((void*)_nextStaging, count);
                for (var i = 0; i < count; i++)
                {
                    argmax[i] = (int)next[i];
                }
            }
        }
    }

    public void MoveSlot(int from, int to)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (from == to)
        {
            return;
        }

        _memory.MakeCurrent();
        foreach (var buffer in _cache)
        {
            _memory.CopyWithinDevice(buffer + (nint)(_rowBytes * to), buffer + (nint)(_rowBytes * from), _rowBytes);
        }

        _memory.WaitForCopies();
    }

    /// <summary>Zeroes the cache once at load, so dummy rows never read uninitialized memory.</summary>
    private void ClearCache()
    {
        var chunk = (int)Math.Min(_rowBytes, 64L << 20);
        var zeros = _memory.AllocateStaging(chunk);
        try
        {
            unsafe
            {
                new Span<byte>((void*)zeros, chunk).Clear();
            }

            foreach (var buffer in _cache)
            {
                for (long offset = 0; offset < _rowBytes * _spec.Slots; offset += chunk)
                {
                    _memory.CopyToDevice(buffer + (nint)offset, zeros, Math.Min(chunk, _rowBytes * _spec.Slots - offset));
                }
            }

            _memory.WaitForCopies();
        }
        finally
        {
            _memory.FreeStaging(zeros);
        }
    }

    private int BucketFor(int count)
    {
        foreach (var size in s_bucketSizes)
        {
            if (size >= count)
            {
                return Math.Min(size, _spec.Slots);
            }
        }

        return _spec.Slots;
    }

    private DecodeBucket Bucket(int size)
    {
        if (_buckets.TryGetValue(size, out var bucket))
        {
            return bucket;
        }

        bucket = new DecodeBucket(_session.CreateIoBinding(), new RunOptions());
        try
        {
            bucket.Values.Add(Device(_idsDevice, TensorElementType.Int64, [size, 1], size * 8L));
            bucket.Binding.BindInput("input_ids", bucket.Values[^1]);
            bucket.Values.Add(Device(_seqlensDevice, TensorElementType.Int32, [size], size * 4L));
            bucket.Binding.BindInput("seqlens_k", bucket.Values[^1]);
            bucket.Binding.BindInput("total_sequence_length", _decodeTotalValue);
            for (var i = 0; i < _cache.Length; i++)
            {
                bucket.Values.Add(Device(_cache[i], _kvType, [size, _spec.KvHeads, _spec.MaxLength, _spec.HeadDim], _rowBytes * size));
                bucket.Binding.BindInput(_pastNames[i], bucket.Values[^1]);
                bucket.Binding.BindOutput(_presentNames[i], bucket.Values[^1]);
            }

            bucket.Values.Add(Device(_logitsDevice, _kvType, [size, 1, _spec.VocabSize], (long)size * _spec.VocabSize * _elementSize));
            bucket.Binding.BindOutput("logits", bucket.Values[^1]);
            if (HasArgMax)
            {
                bucket.Values.Add(Device(_nextDevice, TensorElementType.Int64, [size, 1], size * 8L));
                bucket.Binding.BindOutput(LlamaModelWriter.NextTokenOutput, bucket.Values[^1]);
            }

            if (_cudaGraph)
            {
                bucket.RunOptions.AddRunConfigEntry(DeviceBindingRunner.GraphIdRunOption, (_buckets.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            _buckets[size] = bucket;
            return bucket;
        }
        catch
        {
            bucket.Dispose();
            throw;
        }
    }

    private OrtValue Device(IntPtr pointer, TensorElementType type, long[] shape, long bytes) =>
        OrtValue.CreateTensorValueWithData(_memory.DeviceMemoryInfo, type, shape, pointer, bytes);

    private unsafe void WriteIds(ReadOnlySpan<int> tokens)
    {
        var ids = new Span<long>((void*)_idsStaging, tokens.Length);
        for (var i = 0; i < tokens.Length; i++)
        {
            ids[i] = tokens[i];
        }
    }

    /// <summary>
    /// Converts the staged logits of slots <paramref name="rows"/> (in that order) into <paramref name="logits"/>: vectorized
    /// (F16C/AVX-512), since a scalar Half-to-float loop took 2.4 ms for 64 rows of a 32000-token vocabulary, a quarter of a
    /// concurrency-64 step.
    /// </summary>
    private unsafe void ReadLogits(ReadOnlySpan<int> rows, Span<float> logits)
    {
        var vocab = _spec.VocabSize;
        for (var j = 0; j < rows.Length; j++)
        {
            if (rows[j] < 0)
            {
                continue;
            }

            var target = logits.Slice(j * vocab, vocab);
            if (_spec.Half)
            {
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)_logitsStaging + (long)rows[j] * vocab, vocab), target);
            }
            else
            {
                new ReadOnlySpan<float>((float*)_logitsStaging + (long)rows[j] * vocab, vocab).CopyTo(target);
            }
        }
    }

    private void Run(RunOptions options, OrtIoBinding binding)
    {
        try
        {
            _session.RunWithBinding(options, binding);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InferenceException(InferenceError.RuntimeFailure, $"Decoder model '{_spec.Name}' failed while running: {OnnxErrors.Describe(e)}", e);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var bucket in _buckets.Values)
        {
            bucket.Dispose();
        }

        _session.Dispose();
        _options.Dispose();
        _decodeTotalValue.Dispose();
        _decodeTotalPin.Free();
        _prefillTotalPin.Free();
        foreach (var buffer in _cache)
        {
            _memory.FreeDevice(buffer);
        }

        _memory.FreeDevice(_idsDevice);
        _memory.FreeStaging(_idsStaging);
        _memory.FreeDevice(_seqlensDevice);
        _memory.FreeStaging(_seqlensStaging);
        _memory.FreeDevice(_logitsDevice);
        _memory.FreeStaging(_logitsStaging);
        if (HasArgMax)
        {
            _memory.FreeDevice(_nextDevice);
            _memory.FreeStaging(_nextStaging);
        }

        _ownedMemory?.Dispose();
    }

    private sealed class DecodeBucket(OrtIoBinding binding, RunOptions runOptions) : IDisposable
    {
        public OrtIoBinding Binding { get; } = binding;
        public RunOptions RunOptions { get; } = runOptions;
        public List<OrtValue> Values { get; } = [];
        public int Runs { get; set; }

        public void Dispose()
        {
            Binding.Dispose();
            RunOptions.Dispose();
            foreach (var value in Values)
            {
                value.Dispose();
            }
        }
    }
}

/// <summary>The ONNX Runtime <see cref="ISlotDecoderRunnerFactory"/> (registered by <c>AddOnnxRuntime</c>).</summary>
public sealed class OnnxSlotDecoderRunnerFactory(ILogger<OnnxSlotDecoderRunnerFactory>? logger = null) : ISlotDecoderRunnerFactory
{
    /// <inheritdoc />
    public ISlotDecoderRunner Create(string modelPath, SlotDecoderSpec spec, string executionProvider, int deviceId,
        IReadOnlyDictionary<string, string> providerOptions) =>
        OnnxSlotDecoderRunner.Load(modelPath, spec, executionProvider, deviceId, providerOptions,
            (ILogger?)logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
}
