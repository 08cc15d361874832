using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Sluice.Core.Configuration;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;

namespace Sluice.Onnx.Runtime;

/// <summary>
/// One loaded model instance: owns one <see cref="InferenceSession"/> and the native options it was built with. Runs a
/// batch synchronously on the caller's thread, binding inputs over the callers' bytes without copying them and copying
/// each output once. Calls are not concurrent (see <see cref="IModelRunner"/>); dispose once, after draining.
/// </summary>
public sealed class OnnxModelRunner : IModelRunner
{
    /// <summary>Stands in for the data pointer of zero-byte tensors, which ONNX Runtime wants non-null. Pinned for the process.</summary>
    private static readonly byte[] s_emptyBuffer = GC.AllocateArray<byte>(1, pinned: true);

    private readonly SessionOptions _sessionOptions;
    private readonly InferenceSession _session;

    /// <summary>Used for runs whose token can never be cancelled, so they need no RunOptions of their own.</summary>
    private readonly RunOptions _uncancellableRunOptions;

    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly Dictionary<string, int> _outputIndex;
    private readonly ILogger _logger;
    private readonly string _modelName;
    private readonly int _instanceIndex;

    /// <summary>The IOBinding path (always on cuda, on cpu when asked for); null runs bind per call as before.</summary>
    private DeviceBindingRunner? _binding;
    private InstanceThread? _thread;
    private IDisposable? _deviceMemory;
    private bool _disposed;

    private OnnxModelRunner(SessionOptions sessionOptions, InferenceSession session, RunOptions runOptions,
        ModelSignature signature, string modelName, int instanceIndex, ILogger logger)
    {
        _sessionOptions = sessionOptions;
        _session = session;
        _uncancellableRunOptions = runOptions;
        Signature = signature;
        _inputNames = signature.Inputs.Select(i => i.Name).ToArray();
        _outputNames = signature.Outputs.Select(o => o.Name).ToArray();
        _outputIndex = new Dictionary<string, int>(_outputNames.Length, StringComparer.Ordinal);
        for (var i = 0; i < _outputNames.Length; i++)
        {
            _outputIndex[_outputNames[i]] = i;
        }

        _modelName = modelName;
        _instanceIndex = instanceIndex;
        _logger = logger;
    }

    /// <summary>The model's inputs and outputs as the session sees them (full dims, -1 where dynamic).</summary>
    public ModelSignature Signature { get; }

    /// <summary>Loads <paramref name="modelPath"/> into a new session; releases what it created and rethrows when a step fails.</summary>
    /// <exception cref="InferenceException"><see cref="InferenceError.LoadFailed"/> for a missing provider, a corrupt file or an unsupported signature.</exception>
    internal static OnnxModelRunner Load(string modelPath, OnnxSessionSettings settings, string modelName, int instanceIndex, ILogger logger)
    {
        var sessionOptions = settings.CreateSessionOptions();
        InferenceSession? session = null;
        RunOptions? runOptions = null;
        OnnxModelRunner runner;
        try
        {
            session = OnnxModelBackend.OpenSession(modelPath, sessionOptions);
            var signature = OnnxSignatureReader.Read(session, Path.GetFileName(modelPath));
            runOptions = new RunOptions();
            runner = new OnnxModelRunner(sessionOptions, session, runOptions, signature, modelName, instanceIndex, logger);
        }
        catch
        {
            runOptions?.Dispose();       // acquire, try, release-and-rethrow, in reverse order of acquisition
            session?.Dispose();
            sessionOptions.Dispose();
            throw;
        }

        try
        {
            runner.EnableDeviceBinding(settings);
            return runner;
        }
        catch
        {
            runner.Dispose();   // the runner owns the session and options from here
            throw;
        }
    }

    /// <summary>Whether runs go through <see cref="DeviceBindingRunner"/> (IOBinding over per-shape buffers).</summary>
    internal bool UsesDeviceBinding => _binding is not null;

    /// <summary>Shape buckets the IOBinding path has created so far (0 without it).</summary>
    internal int ShapeBucketsCreated => _binding?.BucketsCreated ?? 0;

    /// <summary>Shape buckets the IOBinding path keeps now (0 without it).</summary>
    internal int ShapeBucketCount => _binding?.BucketCount ?? 0;

    private void EnableDeviceBinding(OnnxSessionSettings settings)
    {
        if (!settings.UseIoBinding || Signature.Inputs.Concat(Signature.Outputs).Any(t => t.DataType == DataType.Bytes))
        {
            return;   // string tensors live in ONNX Runtime's own memory: they keep the per-call path
        }

        DeviceMemory memory;
        if (settings.Provider == OnnxExecutionProvider.Cpu)
        {
            memory = HostDeviceMemory.Instance;
        }
        else
        {
            try
            {
                var cuda = new CudaDeviceMemory(settings.DeviceId);
                _deviceMemory = cuda;
                memory = cuda;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or InvalidOperationException)
            {
                throw new InferenceException(InferenceError.LoadFailed,
                    $"Model '{_modelName}': device memory on GPU {settings.DeviceId} is not usable (CUDA runtime libcudart.so.13): {e.Message}", e);
            }
        }

        _binding = new DeviceBindingRunner(_session, memory, _inputNames, settings.CudaGraph, settings.MaxShapeBuckets, _modelName, _instanceIndex, _logger);
        _thread = new InstanceThread($"sluice-{_modelName}-{_instanceIndex}");
        _logger.DeviceBindingEnabled(_modelName, _instanceIndex, settings.Provider == OnnxExecutionProvider.Cpu ? "host" : "cuda",
            settings.CudaGraph, settings.MaxShapeBuckets);
    }

    /// <inheritdoc />
    public TaskScheduler? Scheduler => _thread?.Scheduler;

    /// <inheritdoc />
    /// <remarks>
    /// <list type="number">
    /// <item>Bind: each model input gets an <see cref="OrtValue"/> over its pinned <see cref="TensorData.Data"/> (BYTES as a string tensor).</item>
    /// <item>Run: on a <see cref="RunOptions"/> whose <c>Terminate</c> flag the token sets, so cancellation stops native work.</item>
    /// <item>Copy: each output once into a new <see cref="TensorData"/>, in the order asked for.</item>
    /// </list>
    /// Completes synchronously on the per-call path; with IOBinding (always on CUDA, on CPU when asked for) it runs on the
    /// instance's own thread. Failures come back in the returned task: <see cref="OperationCanceledException"/> when the
    /// token was cancelled (no outputs are returned then, even if the run finished), <see cref="InferenceException"/>
    /// (<see cref="InferenceError.InvalidInput"/> or <see cref="InferenceError.RuntimeFailure"/>) otherwise.
    /// </remarks>
    public ValueTask<RunResult> RunAsync(IReadOnlyList<TensorData> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken)
    {
        if (_thread is { IsCurrent: false } thread)   // IOBinding path: every run on the instance's own thread (InstanceThread says why)
        {
            return new ValueTask<RunResult>(thread.Run(() => Run(inputs, outputNames, cancellationToken), cancellationToken));
        }

        try
        {
            return new ValueTask<RunResult>(Run(inputs, outputNames, cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<RunResult>(cancellationToken);
        }
        catch (Exception e)
        {
            return ValueTask.FromException<RunResult>(e);
        }
    }

    /// <summary>
    /// The no-copy path: outputs are OrtValues over the caller's pinned buffers, which ONNX Runtime fills in place (only the
    /// nodes the requested outputs need run). With IOBinding on (device buffers) it falls back to a run and a copy.
    /// </summary>
    public ValueTask<RunResult> RunIntoAsync(IReadOnlyList<TensorData> inputs, IReadOnlyList<TensorData> outputs, CancellationToken cancellationToken)
    {
        if (_binding is not null)
        {
            return ((IModelRunner)new CopyingRunner(this)).RunIntoAsync(inputs, outputs, cancellationToken);
        }

        try
        {
            return new ValueTask<RunResult>(RunInto(inputs, outputs, cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<RunResult>(cancellationToken);
        }
        catch (Exception e)
        {
            return ValueTask.FromException<RunResult>(e);
        }
    }

    private RunResult RunInto(IReadOnlyList<TensorData> inputs, IReadOnlyList<TensorData> outputs, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        cancellationToken.ThrowIfCancellationRequested();
        var names = ResolveOutputs(outputs.Select(o => o.Name).ToArray());
        var values = new OrtValue[_inputNames.Length];
        var pins = new MemoryHandle[_inputNames.Length];
        var outputValues = new OrtValue[outputs.Count];
        var outputPins = new MemoryHandle[outputs.Count];
        try
        {
            CheckNoUnknownInputs(inputs);
            for (var i = 0; i < _inputNames.Length; i++)
            {
                values[i] = Bind(FindInput(inputs, _inputNames[i]), Signature.Inputs[i], ref pins[i]);
            }

            for (var i = 0; i < outputs.Count; i++)
            {
                outputValues[i] = BindOutput(outputs[i], ref outputPins[i]);
            }

            var inputEnd = Stopwatch.GetTimestamp();
            try
            {
                using var runOptions = new RunOptions();
                using var terminateOnCancel = cancellationToken.Register(static state => ((RunOptions)state!).Terminate = true, runOptions);
                _session.Run(runOptions, _inputNames, values, names, outputValues);
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            catch (OnnxRuntimeException e)
            {
                throw new InferenceException(InferenceError.RuntimeFailure,
                    $"Model '{_modelName}' failed while running: {OnnxErrors.Describe(e)}", e);
            }

            var inferEnd = Stopwatch.GetTimestamp();
            return new RunResult(outputs, inputEnd, inferEnd, inferEnd);
        }
        finally
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i]?.Dispose();
                pins[i].Dispose();
            }

            for (var i = 0; i < outputValues.Length; i++)
            {
                outputValues[i]?.Dispose();
                outputPins[i].Dispose();
            }
        }
    }

    /// <summary>An OrtValue over the tensor's own memory, pinned for the value's life (zero-byte tensors get a shared stand-in).</summary>
    private static unsafe OrtValue Wrap(TensorData tensor, ref MemoryHandle pin)
    {
        IntPtr pointer;
        if (tensor.Data.Length == 0)
        {
            pointer = Marshal.UnsafeAddrOfPinnedArrayElement(s_emptyBuffer, 0);
        }
        else
        {
            pin = MemoryMarshal.AsMemory(tensor.Data).Pin();
            pointer = (IntPtr)pin.Pointer;
        }

        return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, OnnxTypeMapping.ToElementType(tensor.DataType),
            tensor.Shape, pointer, tensor.Data.Length);
    }

    private static OrtValue BindOutput(TensorData tensor, ref MemoryHandle pin)
    {
        if (!TensorShape.TryGetByteSize(tensor.DataType, tensor.Shape, out var byteSize) || byteSize != tensor.Data.Length)
        {
            throw new ArgumentException($"Output buffer '{tensor.Name}' of shape {TensorShape.Format(tensor.Shape)} needs {byteSize} bytes, got {tensor.Data.Length}.");
        }

        return Wrap(tensor, ref pin);
    }

    /// <summary>Exposes only <see cref="RunAsync"/>, so the interface's copying <c>RunIntoAsync</c> applies.</summary>
    private sealed class CopyingRunner(OnnxModelRunner inner) : IModelRunner
    {
        public ValueTask<RunResult> RunAsync(IReadOnlyList<TensorData> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken) =>
            inner.RunAsync(inputs, outputNames, cancellationToken);

        public void Dispose()
        {
        }
    }

    /// <summary>The managed thread of the latest run (tests: device-path runs all stay on the instance thread).</summary>
    internal int LastRunThreadId { get; private set; }

    private RunResult Run(IReadOnlyList<TensorData> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken)
    {
        LastRunThreadId = Environment.CurrentManagedThreadId;
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputNames);
        cancellationToken.ThrowIfCancellationRequested();

        var requestedOutputs = ResolveOutputs(outputNames);
        if (_binding is not null)
        {
            return RunBound(_binding, inputs, requestedOutputs, cancellationToken);
        }

        var values = new OrtValue[_inputNames.Length];
        var pins = new MemoryHandle[_inputNames.Length];
        try
        {
            // :: Step 1: bind inputs, in the model's order, over the callers' memory.
            CheckNoUnknownInputs(inputs);
            for (var i = 0; i < _inputNames.Length; i++)
            {
                var tensor = FindInput(inputs, _inputNames[i]);
                values[i] = Bind(tensor, Signature.Inputs[i], ref pins[i]);
            }

            var inputEnd = Stopwatch.GetTimestamp();

            // :: Step 2: run, cancellable through RunOptions.Terminate.
            IDisposableReadOnlyCollection<OrtValue> results;
            try
            {
                if (!cancellationToken.CanBeCanceled)
                {
                    results = _session.Run(_uncancellableRunOptions, _inputNames, values, requestedOutputs);
                }
                else
                {
                    // The registration is declared after runOptions, so it is disposed first.
                    using var runOptions = new RunOptions();
                    using var terminateOnCancel = cancellationToken.Register(static state => ((RunOptions)state!).Terminate = true, runOptions);
                    results = _session.Run(runOptions, _inputNames, values, requestedOutputs);
                }
            }
            catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            catch (OnnxRuntimeException e)
            {
                throw new InferenceException(InferenceError.RuntimeFailure,
                    $"Model '{_modelName}' failed while running: {OnnxErrors.Describe(e)}", e);
            }

            using (results)
            {
                var inferEnd = Stopwatch.GetTimestamp();
                cancellationToken.ThrowIfCancellationRequested();   // the caller gave up: its outputs are never returned

                // :: Step 3: copy each output once.
                var outputs = new TensorData[requestedOutputs.Length];
                var index = 0;
                foreach (var value in results)
                {
                    outputs[index] = CopyOut(requestedOutputs[index], value);
                    index++;
                }

                return new RunResult(outputs, inputEnd, inferEnd, Stopwatch.GetTimestamp());
            }
        }
        finally
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i]?.Dispose();
                pins[i].Dispose();
            }
        }
    }

    private RunResult RunBound(DeviceBindingRunner binding, IReadOnlyList<TensorData> inputs, string[] requestedOutputs,
        CancellationToken cancellationToken)
    {
        CheckNoUnknownInputs(inputs);
        var ordered = new TensorData[_inputNames.Length];
        for (var i = 0; i < ordered.Length; i++)
        {
            var tensor = FindInput(inputs, _inputNames[i]);
            CheckAgainstSignature(tensor, Signature.Inputs[i]);
            if (!TensorShape.TryGetByteSize(tensor.DataType, tensor.Shape, out var byteSize) || byteSize != tensor.Data.Length)
            {
                throw InvalidInput(
                    $"Input '{tensor.Name}' of shape {TensorShape.Format(tensor.Shape)} and datatype {tensor.DataType.ToKServeName()} needs {byteSize} bytes, got {tensor.Data.Length}.");
            }

            ordered[i] = tensor;
        }

        try
        {
            return binding.Run(ordered, requestedOutputs, cancellationToken);
        }
        catch (InvalidOperationException e)
        {
            throw new InferenceException(InferenceError.RuntimeFailure, $"Model '{_modelName}' failed while moving tensors: {e.Message}", e);
        }
    }

    private string[] ResolveOutputs(IReadOnlyList<string> outputNames)
    {
        if (outputNames.Count == 0 || SameNames(outputNames, _outputNames))
        {
            return _outputNames;   // the common case reuses the array ONNX Runtime looks names up from
        }

        var names = new string[outputNames.Count];
        for (var i = 0; i < names.Length; i++)
        {
            var name = outputNames[i];
            if (name is null || !_outputIndex.ContainsKey(name))
            {
                throw InvalidInput($"Requested output '{name}' is not an output of model '{_modelName}'.");
            }

            names[i] = name;
        }

        return names;
    }

    private static bool SameNames(IReadOnlyList<string> requested, string[] all)
    {
        if (ReferenceEquals(requested, all))
        {
            return true;
        }

        if (requested.Count != all.Length)
        {
            return false;
        }

        for (var i = 0; i < all.Length; i++)
        {
            if (!string.Equals(requested[i], all[i], StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private void CheckNoUnknownInputs(IReadOnlyList<TensorData> inputs)
    {
        if (inputs.Count == _inputNames.Length)
        {
            return;   // every model input is then looked up below, so no room is left for an unknown or repeated one
        }

        foreach (var tensor in inputs)
        {
            if (Array.IndexOf(_inputNames, tensor.Name) < 0)
            {
                throw InvalidInput($"Input '{tensor.Name}' is not an input of model '{_modelName}'.");
            }
        }

        if (inputs.Count > _inputNames.Length)
        {
            throw InvalidInput($"Model '{_modelName}' takes {_inputNames.Length} inputs, got {inputs.Count}.");
        }
    }

    private TensorData FindInput(IReadOnlyList<TensorData> inputs, string name)
    {
        for (var i = 0; i < inputs.Count; i++)
        {
            if (string.Equals(inputs[i].Name, name, StringComparison.Ordinal))
            {
                return inputs[i];
            }
        }

        throw InvalidInput($"Input '{name}' of model '{_modelName}' is missing.");
    }

    private static OrtValue Bind(TensorData tensor, TensorConfig expected, ref MemoryHandle pin)
    {
        CheckAgainstSignature(tensor, expected);
        if (tensor.DataType == DataType.Bytes)
        {
            return BindStrings(tensor);
        }

        if (!TensorShape.TryGetByteSize(tensor.DataType, tensor.Shape, out var byteSize) || byteSize != tensor.Data.Length)
        {
            throw InvalidInput(
                $"Input '{tensor.Name}' of shape {TensorShape.Format(tensor.Shape)} and datatype {tensor.DataType.ToKServeName()} needs {byteSize} bytes, got {tensor.Data.Length}.");
        }

        return Wrap(tensor, ref pin);
    }

    private static void CheckAgainstSignature(TensorData tensor, TensorConfig expected)
    {
        if (tensor.DataType != expected.DataType)
        {
            throw InvalidInput(
                $"Input '{tensor.Name}' has datatype {SafeName(tensor.DataType)}, the model expects {expected.DataType.ToKServeName()}.");
        }

        var dims = expected.Dims;
        var shape = tensor.Shape;
        var matches = shape.Length == dims.Length;
        for (var d = 0; matches && d < dims.Length; d++)
        {
            matches = shape[d] >= 0 && (dims[d] < 0 || dims[d] == shape[d]);
        }

        if (!matches)
        {
            throw InvalidInput($"Input '{tensor.Name}' has shape {TensorShape.Format(shape)}, the model expects {TensorShape.Format(dims)}.");
        }
    }

    private static string SafeName(DataType type) =>
        type is > DataType.Invalid and <= DataType.Bytes ? type.ToKServeName() : type.ToString();

    /// <summary>Builds a string tensor from the BYTES wire form: per element a 4-byte little-endian length, then the bytes.</summary>
    private static OrtValue BindStrings(TensorData tensor)
    {
        if (!TensorShape.TryGetElementCount(tensor.Shape, out var count) || count > int.MaxValue)
        {
            throw InvalidInput($"Input '{tensor.Name}' has an invalid shape {TensorShape.Format(tensor.Shape)}.");
        }

        var value = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, tensor.Shape);
        try
        {
            var data = tensor.Data.Span;
            var offset = 0;
            for (var i = 0; i < (int)count; i++)
            {
                if (data.Length - offset < 4)
                {
                    throw InvalidInput($"Input '{tensor.Name}': BYTES element {i} has no 4-byte length prefix.");
                }

                var length = BinaryPrimitives.ReadUInt32LittleEndian(data[offset..]);
                offset += 4;
                if (length > (uint)(data.Length - offset))
                {
                    throw InvalidInput($"Input '{tensor.Name}': BYTES element {i} claims {length} bytes but only {data.Length - offset} remain.");
                }

                value.StringTensorSetElementAt(data.Slice(offset, (int)length), i);
                offset += (int)length;
            }

            if (offset != data.Length)
            {
                throw InvalidInput($"Input '{tensor.Name}': {data.Length - offset} bytes follow the last of its {count} BYTES elements.");
            }

            return value;
        }
        catch
        {
            value.Dispose();
            throw;
        }
    }

    internal static TensorData CopyOut(string name, OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        var type = OnnxTypeMapping.ToDataType(info.ElementDataType);
        if (type == DataType.Invalid)
        {
            throw new InferenceException(InferenceError.RuntimeFailure,
                $"Output '{name}' has element type {info.ElementDataType}, which Sluice does not serve.");
        }

        var shape = info.Shape;
        if (type != DataType.Bytes)
        {
            return new TensorData(name, type, shape, value.GetTensorMutableRawData().ToArray());
        }

        var count = checked((int)info.ElementCount);
        var total = 0L;
        for (var i = 0; i < count; i++)
        {
            total += 4 + value.GetStringElementAsSpan(i).Length;
        }

        var bytes = new byte[checked((int)total)];
        var offset = 0;
        for (var i = 0; i < count; i++)
        {
            var element = value.GetStringElementAsSpan(i);
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset), element.Length);
            element.CopyTo(bytes.AsSpan(offset + 4));
            offset += 4 + element.Length;
        }

        return new TensorData(name, DataType.Bytes, shape, bytes);
    }

    private static InferenceException InvalidInput(string message) => new(InferenceError.InvalidInput, message);

    /// <summary>Releases the session and its options, in reverse order of acquisition. Call after in-flight runs have finished.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _thread?.Dispose();    // queued runs finish first
        _binding?.Dispose();   // its bindings and buffers belong to the session: released first
        _deviceMemory?.Dispose();
        _uncancellableRunOptions.Dispose();
        _session.Dispose();
        _sessionOptions.Dispose();
        _logger.RunnerDisposed(_modelName, _instanceIndex);
    }
}
