using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Sluice.Core.Tensors;

namespace Sluice.Server.Http;

/// <summary>
/// Tensor <c>data</c> in KServe v2 JSON: numbers for numeric types (FP16 and BF16 included), <c>true</c>/<c>false</c> for BOOL,
/// strings for BYTES; flat or nested arrays in row-major order. Converts to and from <see cref="TensorData"/>'s little-endian bytes.
/// </summary>
internal static class TensorJsonCodec
{
    /// <summary>Reads a <c>data</c> value (reader positioned on it) into row-major little-endian bytes.</summary>
    /// <param name="reader">A reader on the value's first token.</param>
    /// <param name="label">How errors name the input, e.g. <c>input 'x'</c>.</param>
    /// <param name="type">The declared datatype.</param>
    /// <param name="shape">The declared shape.</param>
    /// <param name="elementCount">The shape's element count (already overflow-checked).</param>
    /// <param name="maxElements">The most elements the JSON text could hold (half its length, plus one).</param>
    public static byte[] ReadData(ref Utf8JsonReader reader, string label, DataType type, long[] shape, long elementCount, long maxElements)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw InferRequestDecoder.Invalid($"{label}: 'data' must be an array");
        }

        // Each JSON element takes at least two bytes ("1,"), so a shape asking for more elements than the JSON could hold is
        // rejected before anything is allocated from it.
        if (elementCount > maxElements)
        {
            throw InferRequestDecoder.Invalid(
                $"{label}: 'data' holds fewer elements than the {elementCount} that 'shape' {TensorShape.Format(shape)} requires");
        }

        if (type == DataType.Bytes)
        {
            return ReadBytesData(ref reader, label, shape, elementCount);
        }

        var elementSize = type.ElementSize();
        if (!TensorShape.TryGetByteSize(type, shape, out var byteCount) || byteCount > Array.MaxLength)
        {
            throw InferRequestDecoder.Invalid($"{label}: 'shape' {TensorShape.Format(shape)} is too large");
        }

        var bytes = new byte[byteCount];
        var span = bytes.AsSpan();
        long index = 0;
        var depth = 0;
        do
        {
            if (!reader.Read())
            {
                throw InferRequestDecoder.Invalid($"{label}: 'data' ends early");
            }

            switch (reader.TokenType)
            {
                case JsonTokenType.StartArray:
                    depth++;
                    continue;
                case JsonTokenType.EndArray:
                    depth--;
                    continue;
            }

            if (index >= elementCount)
            {
                throw InferRequestDecoder.Invalid(
                    $"{label}: 'data' holds more elements than the {elementCount} that 'shape' {TensorShape.Format(shape)} requires");
            }

            if (!TryWriteElement(ref reader, type, span.Slice((int)(index * elementSize), elementSize)))
            {
                throw InferRequestDecoder.Invalid($"{label}: 'data' element {index} is not a valid {type.ToKServeName()} value");
            }

            index++;
        }
        while (depth >= 0);

        if (index != elementCount)
        {
            throw InferRequestDecoder.Invalid(
                $"{label}: 'data' holds {index} elements but 'shape' {TensorShape.Format(shape)} requires {elementCount}");
        }

        return bytes;
    }

    private static bool TryWriteElement(ref Utf8JsonReader reader, DataType type, Span<byte> destination)
    {
        if (type == DataType.Bool)
        {
            if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
            {
                return false;
            }

            destination[0] = reader.TokenType == JsonTokenType.True ? (byte)1 : (byte)0;
            return true;
        }

        if (reader.TokenType != JsonTokenType.Number)
        {
            return false;
        }

        switch (type)
        {
            case DataType.UInt8:
                if (!reader.TryGetByte(out var u8)) return false;
                destination[0] = u8;
                return true;
            case DataType.Int8:
                if (!reader.TryGetSByte(out var i8)) return false;
                destination[0] = (byte)i8;
                return true;
            case DataType.UInt16:
                if (!reader.TryGetUInt16(out var u16)) return false;
                BinaryPrimitives.WriteUInt16LittleEndian(destination, u16);
                return true;
            case DataType.Int16:
                if (!reader.TryGetInt16(out var i16)) return false;
                BinaryPrimitives.WriteInt16LittleEndian(destination, i16);
                return true;
            case DataType.UInt32:
                if (!reader.TryGetUInt32(out var u32)) return false;
                BinaryPrimitives.WriteUInt32LittleEndian(destination, u32);
                return true;
            case DataType.Int32:
                if (!reader.TryGetInt32(out var i32)) return false;
                BinaryPrimitives.WriteInt32LittleEndian(destination, i32);
                return true;
            case DataType.UInt64:
                if (!reader.TryGetUInt64(out var u64)) return false;
                BinaryPrimitives.WriteUInt64LittleEndian(destination, u64);
                return true;
            case DataType.Int64:
                if (!reader.TryGetInt64(out var i64)) return false;
                BinaryPrimitives.WriteInt64LittleEndian(destination, i64);
                return true;
            case DataType.Fp16:
                if (!reader.TryGetDouble(out var h) || double.IsInfinity(h)) return false;
                BinaryPrimitives.WriteHalfLittleEndian(destination, (Half)h);
                return true;
            case DataType.Bf16:
                if (!reader.TryGetSingle(out var b) || float.IsInfinity(b)) return false;
                BinaryPrimitives.WriteUInt16LittleEndian(destination, ToBFloat16(b));
                return true;
            case DataType.Fp32:
                if (!reader.TryGetSingle(out var f) || float.IsInfinity(f)) return false;
                BinaryPrimitives.WriteSingleLittleEndian(destination, f);
                return true;
            case DataType.Fp64:
                if (!reader.TryGetDouble(out var d) || double.IsInfinity(d)) return false;
                BinaryPrimitives.WriteDoubleLittleEndian(destination, d);
                return true;
            default:
                return false;
        }
    }

    private static byte[] ReadBytesData(ref Utf8JsonReader reader, string label, long[] shape, long elementCount)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        long index = 0;
        var depth = 0;
        do
        {
            if (!reader.Read())
            {
                throw InferRequestDecoder.Invalid($"{label}: 'data' ends early");
            }

            switch (reader.TokenType)
            {
                case JsonTokenType.StartArray:
                    depth++;
                    continue;
                case JsonTokenType.EndArray:
                    depth--;
                    continue;
                case JsonTokenType.String:
                    break;
                default:
                    throw InferRequestDecoder.Invalid($"{label}: 'data' element {index} is not a string (BYTES elements are JSON strings)");
            }

            if (index >= elementCount)
            {
                throw InferRequestDecoder.Invalid(
                    $"{label}: 'data' holds more elements than the {elementCount} that 'shape' {TensorShape.Format(shape)} requires");
            }

            var maxLength = reader.HasValueSequence ? checked((int)reader.ValueSequence.Length) : reader.ValueSpan.Length;
            var prefix = buffer.GetSpan(4 + maxLength);
            var written = reader.CopyString(prefix[4..]);
            BinaryPrimitives.WriteInt32LittleEndian(prefix, written);
            buffer.Advance(4 + written);
            index++;
        }
        while (depth >= 0);

        if (index != elementCount)
        {
            throw InferRequestDecoder.Invalid(
                $"{label}: 'data' holds {index} elements but 'shape' {TensorShape.Format(shape)} requires {elementCount}");
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes a tensor's elements as a flat JSON array.</summary>
    public static void WriteData(Utf8JsonWriter writer, TensorData tensor)
    {
        var data = tensor.Data.Span;
        writer.WriteStartArray();
        switch (tensor.DataType)
        {
            case DataType.Bool:
                foreach (var b in data) writer.WriteBooleanValue(b != 0);
                break;
            case DataType.UInt8:
                foreach (var b in data) writer.WriteNumberValue(b);
                break;
            case DataType.Int8:
                foreach (var b in MemoryMarshal.Cast<byte, sbyte>(data)) writer.WriteNumberValue(b);
                break;
            case DataType.UInt16:
                for (var i = 0; i + 2 <= data.Length; i += 2) writer.WriteNumberValue(BinaryPrimitives.ReadUInt16LittleEndian(data[i..]));
                break;
            case DataType.Int16:
                for (var i = 0; i + 2 <= data.Length; i += 2) writer.WriteNumberValue(BinaryPrimitives.ReadInt16LittleEndian(data[i..]));
                break;
            case DataType.UInt32:
                for (var i = 0; i + 4 <= data.Length; i += 4) writer.WriteNumberValue(BinaryPrimitives.ReadUInt32LittleEndian(data[i..]));
                break;
            case DataType.Int32:
                for (var i = 0; i + 4 <= data.Length; i += 4) writer.WriteNumberValue(BinaryPrimitives.ReadInt32LittleEndian(data[i..]));
                break;
            case DataType.UInt64:
                for (var i = 0; i + 8 <= data.Length; i += 8) writer.WriteNumberValue(BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
                break;
            case DataType.Int64:
                for (var i = 0; i + 8 <= data.Length; i += 8) writer.WriteNumberValue(BinaryPrimitives.ReadInt64LittleEndian(data[i..]));
                break;
            case DataType.Fp16:
                for (var i = 0; i + 2 <= data.Length; i += 2) WriteFloat(writer, (float)BinaryPrimitives.ReadHalfLittleEndian(data[i..]));
                break;
            case DataType.Bf16:
                for (var i = 0; i + 2 <= data.Length; i += 2) WriteFloat(writer, FromBFloat16(BinaryPrimitives.ReadUInt16LittleEndian(data[i..])));
                break;
            case DataType.Fp32:
                for (var i = 0; i + 4 <= data.Length; i += 4) WriteFloat(writer, BinaryPrimitives.ReadSingleLittleEndian(data[i..]));
                break;
            case DataType.Fp64:
                for (var i = 0; i + 8 <= data.Length; i += 8)
                {
                    var value = BinaryPrimitives.ReadDoubleLittleEndian(data[i..]);
                    if (double.IsFinite(value)) writer.WriteNumberValue(value);
                    else writer.WriteNullValue();
                }

                break;
            case DataType.Bytes:
                WriteBytesElements(writer, data);
                break;
        }

        writer.WriteEndArray();
    }

    /// <summary>JSON has no NaN or infinity; like Triton's JSON writer we emit null for them (binary outputs keep them exactly).</summary>
    private static void WriteFloat(Utf8JsonWriter writer, float value)
    {
        if (float.IsFinite(value))
        {
            writer.WriteNumberValue(value);
        }
        else
        {
            writer.WriteNullValue();
        }
    }

    private static void WriteBytesElements(Utf8JsonWriter writer, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 4)
        {
            var length = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(data), (uint)(data.Length - 4));
            var element = data.Slice(4, length);
            if (System.Text.Unicode.Utf8.IsValid(element))
            {
                writer.WriteStringValue(element);
            }
            else
            {
                writer.WriteStringValue(Encoding.UTF8.GetString(element));   // invalid sequences become U+FFFD
            }

            data = data[(4 + length)..];
        }
    }

    /// <summary>Rounds a float to bfloat16 (round to nearest even), keeping NaN a NaN.</summary>
    internal static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        var rounding = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    internal static float FromBFloat16(ushort value) => BitConverter.UInt32BitsToSingle((uint)value << 16);
}
