using System.Buffers.Binary;
using System.Text;
using Google.Protobuf;
using Sluice.Server.Grpc.Protocol;
using DataType = Sluice.Core.Tensors.DataType;

namespace Sluice.Server.Tests.Grpc;

/// <summary>Builds the same small tensor both as typed contents and as independently written little-endian raw bytes.</summary>
internal static class GrpcTensors
{
    /// <summary>Three elements of <paramref name="type"/>: (typed contents, raw bytes). Signed types include a negative value.</summary>
    public static (InferTensorContents Typed, byte[] Raw) ThreeValues(DataType type)
    {
        var typed = new InferTensorContents();
        var raw = new List<byte>();
        switch (type)
        {
            case DataType.Bool:
                typed.BoolContents.Add([true, false, true]);
                raw.AddRange([1, 0, 1]);
                break;
            case DataType.Int8:
                typed.IntContents.Add([1, -2, 127]);
                raw.AddRange([1, 0xFE, 0x7F]);
                break;
            case DataType.Int16:
                typed.IntContents.Add([1, -2, 300]);
                foreach (var v in new short[] { 1, -2, 300 }) raw.AddRange(Le(b => BinaryPrimitives.WriteInt16LittleEndian(b, v), 2));
                break;
            case DataType.Int32:
                typed.IntContents.Add([1, -2, 70000]);
                foreach (var v in new[] { 1, -2, 70000 }) raw.AddRange(Le(b => BinaryPrimitives.WriteInt32LittleEndian(b, v), 4));
                break;
            case DataType.Int64:
                typed.Int64Contents.Add([1, -2, 5_000_000_000]);
                foreach (var v in new[] { 1L, -2L, 5_000_000_000L }) raw.AddRange(Le(b => BinaryPrimitives.WriteInt64LittleEndian(b, v), 8));
                break;
            case DataType.UInt8:
                typed.UintContents.Add([1, 2, 255]);
                raw.AddRange([1, 2, 255]);
                break;
            case DataType.UInt16:
                typed.UintContents.Add([1, 2, 65535]);
                foreach (var v in new ushort[] { 1, 2, 65535 }) raw.AddRange(Le(b => BinaryPrimitives.WriteUInt16LittleEndian(b, v), 2));
                break;
            case DataType.UInt32:
                typed.UintContents.Add([1, 2, 4_000_000_000]);
                foreach (var v in new[] { 1u, 2u, 4_000_000_000u }) raw.AddRange(Le(b => BinaryPrimitives.WriteUInt32LittleEndian(b, v), 4));
                break;
            case DataType.UInt64:
                typed.Uint64Contents.Add([1, 2, ulong.MaxValue]);
                foreach (var v in new[] { 1ul, 2ul, ulong.MaxValue }) raw.AddRange(Le(b => BinaryPrimitives.WriteUInt64LittleEndian(b, v), 8));
                break;
            case DataType.Fp32:
                typed.Fp32Contents.Add([1.5f, -2f, 3.25f]);
                foreach (var v in new[] { 1.5f, -2f, 3.25f }) raw.AddRange(Le(b => BinaryPrimitives.WriteSingleLittleEndian(b, v), 4));
                break;
            case DataType.Fp64:
                typed.Fp64Contents.Add([1.5, -2, 1e300]);
                foreach (var v in new[] { 1.5, -2, 1e300 }) raw.AddRange(Le(b => BinaryPrimitives.WriteDoubleLittleEndian(b, v), 8));
                break;
            case DataType.Bytes:
                foreach (var s in new[] { "a", "", "héllo" })
                {
                    var utf8 = Encoding.UTF8.GetBytes(s);
                    typed.BytesContents.Add(ByteString.CopyFrom(utf8));
                    raw.AddRange(Le(b => BinaryPrimitives.WriteInt32LittleEndian(b, utf8.Length), 4));
                    raw.AddRange(utf8);
                }

                break;
            case DataType.Fp16:
                foreach (var v in new[] { (Half)1.5f, (Half)(-2f), (Half)3.25f }) raw.AddRange(Le(b => BinaryPrimitives.WriteHalfLittleEndian(b, v), 2));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type));
        }

        return (typed, raw.ToArray());
    }

    private delegate void Writer(Span<byte> destination);

    private static byte[] Le(Writer write, int size)
    {
        var bytes = new byte[size];
        write(bytes);
        return bytes;
    }
}
