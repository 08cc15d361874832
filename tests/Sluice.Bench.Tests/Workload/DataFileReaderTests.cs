using System.Text;
using Sluice.Bench.Workload;
using Sluice.Core.Tensors;

namespace Sluice.Bench.Tests.Workload;

public sealed class DataFileReaderTests
{
    [Fact]
    public void ReadJson_NestedAndFlatData_ReadsEveryInput()
    {
        var json = """
            {"inputs": [
              {"name": "ids", "datatype": "INT64", "shape": [2, 3], "data": [[1, 2, 3], [4, 5, 6]]},
              {"name": "x", "datatype": "FP32", "shape": [2], "data": [0.5, 1.5]},
              {"name": "s", "datatype": "BYTES", "shape": [1], "data": ["hi"]}
            ]}
            """;

        var tensors = DataFileReader.ReadJson(json, "data.json");

        Assert.Equal([1L, 2, 3, 4, 5, 6], tensors[0].ToArray<long>());
        Assert.Equal([2L, 3L], tensors[0].Shape);
        Assert.Equal([0.5f, 1.5f], tensors[1].ToArray<float>());
        Assert.Equal([2, 0, 0, 0, (byte)'h', (byte)'i'], tensors[2].Data.ToArray());
    }

    [Fact]
    public void ReadJson_CountDiffersFromShape_NamesTheInput()
    {
        var json = """{"inputs": [{"name": "ids", "datatype": "INT64", "shape": [2, 3], "data": [1, 2]}]}""";

        var exception = Assert.Throws<InvalidDataException>(() => DataFileReader.ReadJson(json, "data.json"));

        Assert.Contains("inputs[0].data", exception.Message, StringComparison.Ordinal);
        Assert.Contains("needs 6", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadNpy_HandWrittenFile_ReadsDtypeShapeAndData()
    {
        // Built byte by byte as NumPy's format 1.0 specifies: magic, version, header length, header dict padded to 64, data.
        var header = "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }";
        header = header.PadRight(64 - 10 - 1) + "\n";
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange(Encoding.ASCII.GetBytes("NUMPY"));
        bytes.AddRange([1, 0, (byte)header.Length, 0]);
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        foreach (long v in (long[])[7, 8, 9, 10])
        {
            bytes.AddRange(BitConverter.GetBytes(v));
        }

        var tensor = DataFileReader.ReadNpy("input_ids", bytes.ToArray(), "ids.npy");

        Assert.Equal(DataType.Int64, tensor.DataType);
        Assert.Equal([2L, 2L], tensor.Shape);
        Assert.Equal([7L, 8, 9, 10], tensor.ToArray<long>());
    }

    [Fact]
    public void WriteNpy_ThenReadNpy_RoundTrips()
    {
        var tensor = TensorData.From<float>("x", [3], [1f, 2f, 3f]);

        var back = DataFileReader.ReadNpy("x", DataFileReader.WriteNpy(tensor), "x.npy");

        Assert.Equal(tensor.ToArray<float>(), back.ToArray<float>());
        Assert.Equal([3L], back.Shape);
    }

    [Fact]
    public void ReadNpy_BigEndian_IsRefusedNamingTheDtype()
    {
        var tensor = TensorData.From<float>("x", [1], [1f]);
        var bytes = DataFileReader.WriteNpy(tensor);
        var text = Encoding.Latin1.GetString(bytes).Replace("<f4", ">f4", StringComparison.Ordinal);

        var exception = Assert.Throws<InvalidDataException>(() => DataFileReader.ReadNpy("x", Encoding.Latin1.GetBytes(text), "x.npy"));

        Assert.Contains(">f4", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_BareNpyForOneInputModel_NamesItAfterTheInput()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("sluice-npy-").FullName, "batch.npy");
        File.WriteAllBytes(path, DataFileReader.WriteNpy(TensorData.From<float>("ignored", [2, 4], new float[8])));

        var workload = DataFileReader.Read([path], [new InputSpec("INPUT0", DataType.Fp32, [-1, 4])]);

        Assert.Equal("INPUT0", workload.Inputs.Single().Name);
        Assert.Equal(2, workload.InferencesPerRequest);
    }
}
