using System.Buffers.Binary;
using System.Text;
using Sluice.Core.Tensors;

namespace Sluice.Bench.Workload;

/// <summary>Settings for synthesized inputs.</summary>
public sealed record SynthesisOptions
{
    /// <summary>The batch size put in the first dimension when it is dynamic.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>The length put in every other dynamic dimension (the sequence length of token models).</summary>
    public int SequenceLength { get; init; } = 128;

    /// <summary>Token ids are drawn from [<see cref="TokenMin"/>, <see cref="TokenMax"/>).</summary>
    public long TokenMin { get; init; } = 1000;

    /// <summary>Exclusive upper bound of token ids (MiniLM's vocabulary has 30 522 entries).</summary>
    public long TokenMax { get; init; } = 30000;

    /// <summary>Seed of the random values, so runs are repeatable.</summary>
    public int Seed { get; init; } = 42;
}

/// <summary>
/// Makes a request's inputs from the model's metadata: integer inputs named like ids get random token ids, masks get ones,
/// token type ids get zeros, floats get uniform [0, 1) values; dynamic dimensions get the batch size (first) and the
/// sequence length (others).
/// </summary>
public static class InputSynthesizer
{
    /// <summary>Builds the inputs of <paramref name="model"/>.</summary>
    public static Workload Synthesize(IReadOnlyList<InputSpec> inputs, SynthesisOptions options)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(options);
        var random = new Random(options.Seed);
        var tensors = new List<TensorData>(inputs.Count);
        int inferences = 1;
        bool first = true;
        foreach (var input in inputs)
        {
            var shape = ResolveShape(input.Shape, options);
            if (first && input.Shape.Length > 0 && input.Shape[0] < 0)
            {
                inferences = options.BatchSize;
            }

            first = false;
            tensors.Add(Fill(input, shape, random, options));
        }

        return new Workload(tensors, inferences);
    }

    /// <summary>Replaces dynamic dimensions: the first by the batch size, the others by the sequence length.</summary>
    public static long[] ResolveShape(long[] declared, SynthesisOptions options)
    {
        var shape = (long[])declared.Clone();
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0)
            {
                shape[i] = i == 0 ? options.BatchSize : options.SequenceLength;
            }
        }

        return shape;
    }

    private static TensorData Fill(InputSpec input, long[] shape, Random random, SynthesisOptions options)
    {
        if (!TensorShape.TryGetElementCount(shape, out var count) || count > 256L * 1024 * 1024)
        {
            throw new ArgumentException($"input '{input.Name}': shape {TensorShape.Format(shape)} is too large to synthesize");
        }

        var name = input.Name.ToLowerInvariant();
        int n = (int)count;
        switch (input.DataType)
        {
            case DataType.Int64:
                return TensorData.From<long>(input.Name, shape, Integers(name, n, random, options));
            case DataType.Int32:
                return TensorData.From<int>(input.Name, shape, Integers(name, n, random, options).Select(v => (int)v).ToArray());
            case DataType.Fp32:
                return TensorData.From<float>(input.Name, shape, Enumerable.Range(0, n).Select(_ => random.NextSingle()).ToArray());
            case DataType.Fp64:
                return TensorData.From<double>(input.Name, shape, Enumerable.Range(0, n).Select(_ => random.NextDouble()).ToArray());
            case DataType.Fp16:
                return TensorData.From<Half>(input.Name, shape, Enumerable.Range(0, n).Select(_ => (Half)random.NextSingle()).ToArray());
            case DataType.Bytes:
                return Strings(input.Name, shape, n, random);
            default:
                // Small integers and booleans: random bytes of the right size, each element in a safe small range.
                var size = input.DataType.ElementSize();
                var bytes = new byte[n * size];
                for (int i = 0; i < n; i++)
                {
                    bytes[i * size] = input.DataType == DataType.Bool ? (byte)random.Next(2) : (byte)random.Next(100);
                }

                return new TensorData(input.Name, input.DataType, shape, bytes);
        }
    }

    private static long[] Integers(string name, int count, Random random, SynthesisOptions options)
    {
        var values = new long[count];
        if (name.Contains("mask", StringComparison.Ordinal))
        {
            Array.Fill(values, 1L);
        }
        else if (name.Contains("type", StringComparison.Ordinal) || name.Contains("segment", StringComparison.Ordinal))
        {
            // token_type_ids / segment ids: a single segment.
        }
        else if (name.Contains("id", StringComparison.Ordinal) || name.Contains("token", StringComparison.Ordinal))
        {
            for (int i = 0; i < count; i++)
            {
                values[i] = random.NextInt64(options.TokenMin, options.TokenMax);
            }
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                values[i] = random.Next(100);
            }
        }

        return values;
    }

    private static TensorData Strings(string name, long[] shape, int count, Random random)
    {
        using var stream = new MemoryStream();
        Span<byte> length = stackalloc byte[4];
        for (int i = 0; i < count; i++)
        {
            var text = Encoding.UTF8.GetBytes($"bench-{random.Next(1_000_000)}");
            BinaryPrimitives.WriteInt32LittleEndian(length, text.Length);
            stream.Write(length);
            stream.Write(text);
        }

        return new TensorData(name, DataType.Bytes, shape, stream.ToArray());
    }
}
