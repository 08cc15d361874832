using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Sluice.Core.Inference;
using Sluice.Core.Runtime;
using Sluice.Core.Tensors;

namespace Sluice.Onnx.Runtime;

/// <summary>
/// The IOBinding path of <see cref="OnnxModelRunner"/>: per shape bucket (the input shapes and requested outputs of a run)
/// it keeps one <see cref="OrtIoBinding"/> bound once over device input and output buffers, plus pinned host staging, all
/// reused by every later run of that bucket. With <c>enable_cuda_graph</c> each bucket replays its own CUDA graph
/// (<c>gpu_graph_id</c>). A bucket's first run learns the output shapes (outputs bound to host memory, no graph); its
/// buffers are allocated then. Not thread-safe: the runner's calls are not concurrent.
/// </summary>
/// <remarks>
/// Timestamps: inputs end after the host-to-device copies; infer ends when <c>RunWithBinding</c> returns, which is after
/// ONNX Runtime synchronized the session's CUDA stream (its default; <c>disable_synchronize_execution_providers</c> is never
/// set), so it is GPU time, not launch time. <c>SynchronizeBoundOutputs</c> is not called: on CUDA it synchronizes the whole
/// device, so one instance would wait for the kernels of the others. Outputs end after the device-to-host copies into new
/// <see cref="TensorData"/>.
/// </remarks>
internal sealed class DeviceBindingRunner : IDisposable
{
    /// <summary>ONNX Runtime's run option that names the CUDA graph of a run; -1 runs without capture or replay.</summary>
    internal const string GraphIdRunOption = "gpu_graph_id";

    /// <summary>
    /// A graph bucket's first bound runs, during which ONNX Runtime captures its graph (after a couple of regular runs); they
    /// hold the device's capture gate exclusively.
    /// </summary>
    internal const int CaptureWindowRuns = 4;

    private readonly InferenceSession _session;
    private readonly DeviceMemory _memory;
    private readonly string[] _inputNames;
    private readonly bool _cudaGraph;
    private readonly int _maxBuckets;
    private readonly string _modelName;
    private readonly int _instanceIndex;
    private readonly ILogger _logger;
    private readonly List<ShapeBucket> _buckets = [];
    private int _nextGraphId = 1;
    private long _useClock;

    public DeviceBindingRunner(InferenceSession session, DeviceMemory memory, string[] inputNames, bool cudaGraph, int maxBuckets,
        string modelName, int instanceIndex, ILogger logger)
    {
        _session = session;
        _memory = memory;
        _inputNames = inputNames;
        _cudaGraph = cudaGraph;
        _maxBuckets = maxBuckets;
        _modelName = modelName;
        _instanceIndex = instanceIndex;
        _logger = logger;
    }

    /// <summary>Buckets alive now (for tests and logs).</summary>
    public int BucketCount => _buckets.Count;

    /// <summary>Buckets created since the runner started (a rerun of a known shape creates none).</summary>
    public int BucketsCreated { get; private set; }

    /// <summary>Runs one batch; <paramref name="inputs"/> are validated and in the model's input order.</summary>
    public RunResult Run(TensorData[] inputs, string[] outputNames, CancellationToken cancellationToken)
    {
        _memory.MakeCurrent();
        var existing = Find(inputs, outputNames);
        var mayCapture = _cudaGraph && (existing is null || existing.BoundRuns < CaptureWindowRuns);
        using (CudaGraphCaptureGate.Enter(_memory.CaptureGate, exclusive: mayCapture))
        {
            return RunGated(existing ?? Create(inputs, outputNames), inputs, cancellationToken);
        }
    }

    private RunResult RunGated(ShapeBucket bucket, TensorData[] inputs, CancellationToken cancellationToken)
    {
        bucket.LastUse = ++_useClock;

        // :: Step 1: caller bytes → pinned staging → device buffers (bound once, same addresses every run).
        for (var i = 0; i < inputs.Length; i++)
        {
            var input = bucket.Inputs[i];
            inputs[i].Data.Span.CopyTo(input.StagingSpan);
            _memory.CopyToDevice(input.Device, input.Staging, input.Bytes);
        }

        _memory.WaitForCopies();

        var inputEnd = Stopwatch.GetTimestamp();
        return bucket.OutputsReady
            ? RunBound(bucket, inputEnd, cancellationToken)
            : RunDiscovering(bucket, inputEnd, cancellationToken);
    }

    /// <summary>The steady state: run over the bound buffers (replaying the bucket's graph), wait for the GPU, copy out.</summary>
    private RunResult RunBound(ShapeBucket bucket, long inputEnd, CancellationToken cancellationToken)
    {
        RunNative(bucket.RunOptions, bucket.Binding, cancellationToken);
        var inferEnd = Stopwatch.GetTimestamp();
        bucket.BoundRuns++;
        cancellationToken.ThrowIfCancellationRequested();

        foreach (var output in bucket.Outputs)
        {
            _memory.CopyToHost(output.Staging, output.Device, output.Bytes);
        }

        _memory.WaitForCopies();
        var outputs = new TensorData[bucket.Outputs.Length];
        for (var i = 0; i < outputs.Length; i++)
        {
            var output = bucket.Outputs[i];
            outputs[i] = new TensorData(output.Name, output.DataType, (long[])output.Shape.Clone(), output.StagingSpan.ToArray());
        }

        return new RunResult(outputs, inputEnd, inferEnd, Stopwatch.GetTimestamp());
    }

    /// <summary>A bucket's first run: outputs go to host memory ONNX Runtime allocates, which tells their shapes; buffers follow.</summary>
    private RunResult RunDiscovering(ShapeBucket bucket, long inputEnd, CancellationToken cancellationToken)
    {
        foreach (var name in bucket.OutputNames)
        {
            bucket.Binding.BindOutputToDevice(name, OrtMemoryInfo.DefaultInstance);
        }

        using var discoveryOptions = new RunOptions();
        discoveryOptions.AddRunConfigEntry(GraphIdRunOption, "-1");
        RunNative(discoveryOptions, bucket.Binding, cancellationToken);
        var inferEnd = Stopwatch.GetTimestamp();
        cancellationToken.ThrowIfCancellationRequested();

        using var values = bucket.Binding.GetOutputValues();
        var outputs = new TensorData[bucket.OutputNames.Length];
        var index = 0;
        foreach (var value in values)
        {
            outputs[index] = OnnxModelRunner.CopyOut(bucket.OutputNames[index], value);
            index++;
        }

        bucket.AllocateOutputs(outputs, _memory);
        bucket.Binding.ClearBoundOutputs();
        foreach (var output in bucket.Outputs)
        {
            bucket.Binding.BindOutput(output.Name, output.Value);
        }

        if (_cudaGraph)
        {
            bucket.RunOptions.AddRunConfigEntry(GraphIdRunOption, bucket.GraphId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return new RunResult(outputs, inputEnd, inferEnd, Stopwatch.GetTimestamp());
    }

    private void RunNative(RunOptions options, OrtIoBinding binding, CancellationToken cancellationToken)
    {
        try
        {
            using (cancellationToken.Register(static state => ((RunOptions)state!).Terminate = true, options))
            {
                _session.RunWithBinding(options, binding);   // returns after the session's stream is synchronized
            }
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InferenceException(InferenceError.RuntimeFailure, $"Model '{_modelName}' failed while running: {OnnxErrors.Describe(e)}", e);
        }
        finally
        {
            if (options.Terminate)
            {
                options.Terminate = false;   // a bucket's options outlive the cancelled run
            }
        }
    }

    private ShapeBucket? Find(TensorData[] inputs, string[] outputNames)
    {
        foreach (var bucket in _buckets)
        {
            if (bucket.Matches(inputs, outputNames))
            {
                return bucket;
            }
        }

        return null;
    }

    private ShapeBucket Create(TensorData[] inputs, string[] outputNames)
    {
        if (_buckets.Count >= _maxBuckets)
        {
            var oldest = _buckets.MinBy(b => b.LastUse)!;
            _buckets.Remove(oldest);
            oldest.Dispose();
        }

        var created = ShapeBucket.Create(_session, _memory, _inputNames, inputs, outputNames, _nextGraphId++);
        _buckets.Add(created);
        BucketsCreated++;
        _logger.ShapeBucketCreated(_modelName, _instanceIndex, ShapeBucket.Describe(inputs), _buckets.Count, _cudaGraph ? created.GraphId : -1);
        return created;
    }

    public void Dispose()
    {
        using (CudaGraphCaptureGate.Enter(_memory.CaptureGate, exclusive: false))   // cudaFree must not meet another runner's capture
        {
            foreach (var bucket in _buckets)
            {
                bucket.Dispose();
            }

            _buckets.Clear();
        }
    }

    /// <summary>One device buffer bound to the binding, with its pinned host twin (staging).</summary>
    private sealed class BoundBuffer(string name, DataType dataType, long[] shape, long bytes, IntPtr device, IntPtr staging, OrtValue value)
    {
        public string Name { get; } = name;
        public DataType DataType { get; } = dataType;
        public long[] Shape { get; } = shape;
        public long Bytes { get; } = bytes;
        public IntPtr Device { get; } = device;
        public IntPtr Staging { get; } = staging;
        public OrtValue Value { get; } = value;

        public unsafe Span<byte> StagingSpan => new((void*)Staging, checked((int)Bytes));

        public static BoundBuffer Allocate(DeviceMemory memory, string name, DataType type, long[] shape, long bytes)
        {
            var device = IntPtr.Zero;
            var staging = IntPtr.Zero;
            try
            {
                device = memory.AllocateDevice(bytes);
                staging = memory.AllocateStaging(bytes);
                var value = OrtValue.CreateTensorValueWithData(memory.DeviceMemoryInfo, OnnxTypeMapping.ToElementType(type), shape, device, bytes);
                return new BoundBuffer(name, type, shape, bytes, device, staging, value);
            }
            catch
            {
                if (staging != IntPtr.Zero)
                {
                    memory.FreeStaging(staging);
                }

                if (device != IntPtr.Zero)
                {
                    memory.FreeDevice(device);
                }

                throw;
            }
        }

        public void Release(DeviceMemory memory)
        {
            Value.Dispose();
            memory.FreeStaging(Staging);
            memory.FreeDevice(Device);
        }
    }

    private sealed class ShapeBucket : IDisposable
    {
        private readonly DeviceMemory _memory;

        private ShapeBucket(DeviceMemory memory, OrtIoBinding binding, RunOptions runOptions, string[] outputNames, int graphId)
        {
            _memory = memory;
            Binding = binding;
            RunOptions = runOptions;
            OutputNames = outputNames;
            GraphId = graphId;
        }

        public OrtIoBinding Binding { get; }
        public RunOptions RunOptions { get; }
        public string[] OutputNames { get; }
        public int GraphId { get; }
        public List<BoundBuffer> InputList { get; } = [];
        public BoundBuffer[] Inputs => _inputs ??= InputList.ToArray();
        public BoundBuffer[] Outputs { get; private set; } = [];
        public bool OutputsReady { get; private set; }
        public long LastUse { get; set; }

        /// <summary>Runs over the bound buffers so far (a graph bucket captures within its first few).</summary>
        public int BoundRuns { get; set; }
        private BoundBuffer[]? _inputs;

        public static ShapeBucket Create(InferenceSession session, DeviceMemory memory, string[] inputNames, TensorData[] inputs,
            string[] outputNames, int graphId)
        {
            var binding = session.CreateIoBinding();
            var bucket = new ShapeBucket(memory, binding, new RunOptions(), outputNames, graphId);
            try
            {
                for (var i = 0; i < inputs.Length; i++)
                {
                    var input = inputs[i];
                    var buffer = BoundBuffer.Allocate(memory, inputNames[i], input.DataType, (long[])input.Shape.Clone(), input.Data.Length);
                    bucket.InputList.Add(buffer);
                    binding.BindInput(inputNames[i], buffer.Value);
                }

                return bucket;
            }
            catch
            {
                bucket.Dispose();
                throw;
            }
        }

        public void AllocateOutputs(TensorData[] discovered, DeviceMemory memory)
        {
            var outputs = new List<BoundBuffer>(discovered.Length);
            try
            {
                foreach (var output in discovered)
                {
                    outputs.Add(BoundBuffer.Allocate(memory, output.Name, output.DataType, (long[])output.Shape.Clone(), output.Data.Length));
                }
            }
            catch
            {
                foreach (var output in outputs)
                {
                    output.Release(memory);
                }

                throw;
            }

            Outputs = outputs.ToArray();
            OutputsReady = true;
        }

        public bool Matches(TensorData[] inputs, string[] outputNames)
        {
            if (!ReferenceEquals(outputNames, OutputNames) && !outputNames.AsSpan().SequenceEqual(OutputNames))
            {
                return false;
            }

            var bound = Inputs;
            for (var i = 0; i < inputs.Length; i++)
            {
                if (inputs[i].DataType != bound[i].DataType || !inputs[i].Shape.AsSpan().SequenceEqual(bound[i].Shape))
                {
                    return false;
                }
            }

            return true;
        }

        public static string Describe(TensorData[] inputs) =>
            string.Join(" ", inputs.Select(i => TensorShape.Format(i.Shape)));

        public void Dispose()
        {
            Binding.Dispose();
            RunOptions.Dispose();
            foreach (var buffer in InputList)
            {
                buffer.Release(_memory);
            }

            foreach (var buffer in Outputs)
            {
                buffer.Release(_memory);
            }
        }
    }
}
