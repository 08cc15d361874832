using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sluice.Core.Tensors;

namespace Sluice.Bench.Workload;

/// <summary>
/// Reads request inputs from files: a KServe v2 JSON request body (<c>{"inputs": [{name, datatype, shape, data}]}</c>, data flat
/// or nested) or NumPy <c>.npy</c> arrays (one per input, given as <c>NAME=file.npy</c>, or a bare file for a one-input model).
/// </summary>
public static partial class DataFileReader
{
    /// <summary>Reads the inputs named by <paramref name="files"/>. Throws <see cref="InvalidDataException"/> naming the file and field.</summary>
    /// <param name="files">One JSON file, or <c>.npy</c> files as <c>NAME=path</c> (or a bare path when the model has one input).</param>
    /// <param name="modelInputs">The model's inputs, to name a bare <c>.npy</c> and to count inferences per request.</param>
    public static Workload Read(IReadOnlyList<string> files, IReadOnlyList<InputSpec> modelInputs)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(modelInputs);
        List<TensorData> tensors = [];
        foreach (var entry in files)
        {
            var (name, path) = SplitName(entry);
            if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            {
                name ??= modelInputs.Count == 1
                    ? modelInputs[0].Name
                    : throw new InvalidDataException($"{Path.GetFileName(path)}: the model has {modelInputs.Count} inputs; name the input as NAME=file.npy");
                tensors.Add(ReadNpy(name, File.ReadAllBytes(path), Path.GetFileName(path)));
            }
            else
            {
                tensors.AddRange(ReadJson(File.ReadAllText(path), Path.GetFileName(path)));
            }
        }

        int inferences = 1;
        if (modelInputs.Count > 0 && modelInputs[0].Shape is [< 0, ..] && tensors.FirstOrDefault(t => t.Name == modelInputs[0].Name) is { Shape.Length: > 0 } first)
        {
            inferences = (int)first.Shape[0];
        }

        return new Workload(tensors, inferences);
    }

    private static (string? Name, string Path) SplitName(string entry)
    {
        var eq = entry.IndexOf('=', StringComparison.Ordinal);
        return eq > 0 && !File.Exists(entry) ? (entry[..eq], entry[(eq + 1)..]) : (null, entry);
    }

    /// <summary>Parses a KServe v2 JSON request body's <c>inputs</c>.</summary>
    public static IReadOnlyList<TensorData> ReadJson(string json, string fileName)
    {
        using var document = JsonDocument.Parse(json);
        if (!document.RootElement.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"{fileName}: 'inputs' must be an array of tensors");
        }

        var result = new List<TensorData>();
        int index = 0;
        foreach (var input in inputs.EnumerateArray())
        {
            var field = $"{fileName}: inputs[{index++}]";
            var name = input.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : throw new InvalidDataException($"{field}.name is required");
            var datatypeText = input.TryGetProperty("datatype", out var d) ? d.GetString() : null;
            if (!DataTypes.TryParse(datatypeText, out var type))
            {
                throw new InvalidDataException($"{field}.datatype '{datatypeText}' is not a KServe v2 datatype");
            }

            if (!input.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException($"{field}.shape is required");
            }

            var shape = shapeElement.EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (!input.TryGetProperty("data", out var data))
            {
                throw new InvalidDataException($"{field}.data is required");
            }

            var flat = new List<JsonElement>();
            Flatten(data, flat);
            if (!TensorShape.TryGetElementCount(shape, out var count) || count != flat.Count)
            {
                throw new InvalidDataException($"{field}.data has {flat.Count} elements; shape {TensorShape.Format(shape)} needs {count}");
            }

            result.Add(Encode(name, type, shape, flat, field));
        }

        return result;
    }

    private static void Flatten(JsonElement element, List<JsonElement> into)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var child in element.EnumerateArray())
            {
                Flatten(child, into);
            }
        }
        else
        {
            into.Add(element);
        }
    }

    private static TensorData Encode(string name, DataType type, long[] shape, List<JsonElement> values, string field)
    {
        try
        {
            return type switch
            {
                DataType.Int64 => TensorData.From<long>(name, shape, values.Select(v => v.GetInt64()).ToArray()),
                DataType.Int32 => TensorData.From<int>(name, shape, values.Select(v => v.GetInt32()).ToArray()),
                DataType.Int16 => TensorData.From<short>(name, shape, values.Select(v => v.GetInt16()).ToArray()),
                DataType.Int8 => TensorData.From<sbyte>(name, shape, values.Select(v => v.GetSByte()).ToArray()),
                DataType.UInt64 => TensorData.From<ulong>(name, shape, values.Select(v => v.GetUInt64()).ToArray()),
                DataType.UInt32 => TensorData.From<uint>(name, shape, values.Select(v => v.GetUInt32()).ToArray()),
                DataType.UInt16 => TensorData.From<ushort>(name, shape, values.Select(v => v.GetUInt16()).ToArray()),
                DataType.UInt8 => TensorData.From<byte>(name, shape, values.Select(v => v.GetByte()).ToArray()),
                DataType.Bool => new TensorData(name, type, shape, values.Select(v => v.GetBoolean() ? (byte)1 : (byte)0).ToArray()),
                DataType.Fp32 => TensorData.From<float>(name, shape, values.Select(v => v.GetSingle()).ToArray()),
                DataType.Fp64 => TensorData.From<double>(name, shape, values.Select(v => v.GetDouble()).ToArray()),
                DataType.Fp16 => TensorData.From<Half>(name, shape, values.Select(v => (Half)v.GetSingle()).ToArray()),
                DataType.Bytes => new TensorData(name, type, shape, EncodeStrings(values.Select(v => v.GetString() ?? ""))),
                _ => throw new InvalidDataException($"{field}.datatype {type.ToKServeName()} cannot be read from JSON"),
            };
        }
        catch (Exception exception) when (exception is FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{field}.data holds a value that is not {type.ToKServeName()}");
        }
    }

    private static byte[] EncodeStrings(IEnumerable<string> values)
    {
        using var stream = new MemoryStream();
        Span<byte> length = stackalloc byte[4];
        foreach (var value in values)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
            stream.Write(length);
            stream.Write(bytes);
        }

        return stream.ToArray();
    }

    /// <summary>Parses a NumPy <c>.npy</c> file (format 1.0–3.0, C order, little-endian numeric types).</summary>
    public static TensorData ReadNpy(string name, byte[] file, string fileName)
    {
        if (file.Length < 10 || file[0] != 0x93 || Encoding.ASCII.GetString(file, 1, 5) != "NUMPY")
        {
            throw new InvalidDataException($"{fileName}: not a .npy file (no \\x93NUMPY magic)");
        }

        int major = file[6];
        int headerLength, offset;
        if (major == 1)
        {
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(8));
            offset = 10;
        }
        else
        {
            headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(8));
            offset = 12;
        }

        if (offset + headerLength > file.Length)
        {
            throw new InvalidDataException($"{fileName}: the header runs past the end of the file");
        }

        var header = Encoding.Latin1.GetString(file, offset, headerLength);
        var descr = DescrPattern().Match(header);
        var shapeMatch = ShapePattern().Match(header);
        if (!descr.Success || !shapeMatch.Success)
        {
            throw new InvalidDataException($"{fileName}: the header lacks 'descr' or 'shape'");
        }

        if (FortranPattern().IsMatch(header))
        {
            throw new InvalidDataException($"{fileName}: fortran_order arrays are not supported; save with C order");
        }

        var type = descr.Groups[1].Value switch
        {
            "<f4" => DataType.Fp32,
            "<f8" => DataType.Fp64,
            "<f2" => DataType.Fp16,
            "<i8" => DataType.Int64,
            "<i4" => DataType.Int32,
            "<i2" => DataType.Int16,
            "|i1" => DataType.Int8,
            "<u8" => DataType.UInt64,
            "<u4" => DataType.UInt32,
            "<u2" => DataType.UInt16,
            "|u1" => DataType.UInt8,
            "|b1" => DataType.Bool,
            var other => throw new InvalidDataException($"{fileName}: dtype '{other}' is not supported (little-endian numeric types and bool are)"),
        };

        var shape = shapeMatch.Groups[1].Value
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var dataOffset = offset + headerLength;
        if (!TensorShape.TryGetByteSize(type, shape, out var bytes) || dataOffset + bytes > file.Length)
        {
            throw new InvalidDataException($"{fileName}: shape {TensorShape.Format(shape)} needs {bytes} bytes of data; the file has {file.Length - dataOffset}");
        }

        return new TensorData(name, type, shape, file.AsMemory(dataOffset, (int)bytes));
    }

    /// <summary>Writes a C-order <c>.npy</c> (format 1.0) of <paramref name="tensor"/>; the inverse of <see cref="ReadNpy"/>.</summary>
    public static byte[] WriteNpy(TensorData tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var descr = tensor.DataType switch
        {
            DataType.Fp32 => "<f4", DataType.Fp64 => "<f8", DataType.Fp16 => "<f2", DataType.Int64 => "<i8", DataType.Int32 => "<i4",
            DataType.Int16 => "<i2", DataType.Int8 => "|i1", DataType.UInt64 => "<u8", DataType.UInt32 => "<u4", DataType.UInt16 => "<u2",
            DataType.UInt8 => "|u1", DataType.Bool => "|b1",
            _ => throw new ArgumentException($"{tensor.DataType.ToKServeName()} has no .npy dtype"),
        };
        var shape = tensor.Shape.Length == 1 ? $"({tensor.Shape[0]},)" : $"({string.Join(", ", tensor.Shape)})";
        var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        int total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + ((64 - total % 64) % 64)) + "\n";
        var bytes = new byte[10 + header.Length + tensor.Data.Length];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        Encoding.ASCII.GetBytes(header).CopyTo(bytes, 10);
        tensor.Data.Span.CopyTo(bytes.AsSpan(10 + header.Length));
        return bytes;
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']+)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*True")]
    private static partial Regex FortranPattern();
}
