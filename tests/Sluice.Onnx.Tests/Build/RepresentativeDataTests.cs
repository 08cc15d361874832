using System.Text;
using Sluice.Core.Tensors;
using Sluice.Onnx.Build;
using Sluice.Onnx.Graph;
using Sluice.Onnx.Graph.Proto;
using Sluice.Onnx.Tests.TestSupport;

namespace Sluice.Onnx.Tests.Build;

public sealed class RepresentativeDataTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    [Fact]
    public void Synthetic_TokenModel_IdsBelowVocabularyMaskOnesTypesZero()
    {
        var model = TokenModel(vocabulary: 50);

        var samples = RepresentativeData.Synthetic(model, count: 3, batch: 2, sequence: 7, seed: 1);

        Assert.Equal(3, samples.Count);
        var sample = samples[0].Inputs;
        var ids = sample.Single(t => t.Name == "input_ids");
        Assert.Equal([2L, 7L], ids.Shape);
        Assert.All(ids.ToArray<long>(), id => Assert.InRange(id, 0, 49));
        Assert.True(ids.ToArray<long>().Distinct().Count() > 3);
        Assert.All(sample.Single(t => t.Name == "attention_mask").ToArray<long>(), v => Assert.Equal(1, v));
        Assert.All(sample.Single(t => t.Name == "token_type_ids").ToArray<long>(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void Synthetic_ShapeGiven_UsesIt()
    {
        var samples = RepresentativeData.Synthetic(TokenModel(50), 1, 2, 7, 1, new Dictionary<string, long[]> { ["input_ids"] = [3, 5] });

        Assert.Equal([3L, 5L], samples[0].Inputs.Single(t => t.Name == "input_ids").Shape);
    }

    [Fact]
    public void Load_NpyColumns_SplitsRowsIntoBatches()
    {
        var folder = _dir.File("npy");
        Directory.CreateDirectory(folder);
        long[] ids = [1, 2, 3, 4, 5, 6, 7, 8, 9];   // 3 rows of 3
        WriteNpy(Path.Combine(folder, "input_ids.npy"), "<i8", [3, 3], ids.SelectMany(BitConverter.GetBytes).ToArray());
        WriteNpy(Path.Combine(folder, "attention_mask.npy"), "<i4", [3, 3], Enumerable.Repeat(1, 9).SelectMany(BitConverter.GetBytes).ToArray());
        WriteNpy(Path.Combine(folder, "token_type_ids.npy"), "<i8", [3, 3], new byte[72]);

        var samples = RepresentativeData.Load(folder, TokenModel(50), batch: 2);

        Assert.Equal(2, samples.Count);
        Assert.Equal([2L, 3L], samples[0].Inputs[0].Shape);
        Assert.Equal([1L, 2, 3, 4, 5, 6], samples[0].Inputs.Single(t => t.Name == "input_ids").ToArray<long>());
        Assert.Equal([7L, 8, 9], samples[1].Inputs.Single(t => t.Name == "input_ids").ToArray<long>());
        Assert.Equal(DataType.Int64, samples[1].Inputs.Single(t => t.Name == "attention_mask").DataType);   // converted to the model's type
    }

    [Fact]
    public void Load_KServeJson_ReadsOneSamplePerFile()
    {
        var folder = _dir.File("json");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "a.json"), """
            {"inputs": [
              {"name": "input_ids", "shape": [1, 3], "datatype": "INT64", "data": [[101, 2000, 102]]},
              {"name": "attention_mask", "shape": [1, 3], "datatype": "INT64", "data": [1, 1, 1]},
              {"name": "token_type_ids", "shape": [1, 3], "datatype": "INT64", "data": [0, 0, 0]}
            ]}
            """);

        var sample = Assert.Single(RepresentativeData.Load(folder, TokenModel(50), batch: 4));

        Assert.Equal([101L, 2000, 102], sample.Inputs.Single(t => t.Name == "input_ids").ToArray<long>());
    }

    [Fact]
    public void Load_JsonWithUnknownInput_NamesIt()
    {
        var folder = _dir.File("bad");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "a.json"), """{"inputs": [{"name": "pixels", "shape": [1], "datatype": "FP32", "data": [1]}]}""");

        var error = Assert.Throws<InvalidDataException>(() => RepresentativeData.Load(folder, TokenModel(50), 1));

        Assert.Contains("'pixels'", error.Message);
    }

    [Fact]
    public void Load_NpyMissingForAnInput_NamesTheInput()
    {
        var folder = _dir.File("missing");
        Directory.CreateDirectory(folder);
        WriteNpy(Path.Combine(folder, "input_ids.npy"), "<i8", [1, 1], new byte[8]);

        var error = Assert.Throws<FileNotFoundException>(() => RepresentativeData.Load(folder, TokenModel(50), 1));

        Assert.Contains("'attention_mask'", error.Message);
    }

    private static ModelProto TokenModel(int vocabulary) => new OnnxGraphBuilder("tokens")
        .Input("input_ids", DataType.Int64, ["batch", "seq"])
        .Input("attention_mask", DataType.Int64, ["batch", "seq"])
        .Input("token_type_ids", DataType.Int64, ["batch", "seq"])
        .Initializer("table", new float[vocabulary * 4], [vocabulary, 4])
        .Node("Gather", ["table", "input_ids"], ["embedded"])
        .Output("embedded", DataType.Fp32, ["batch", "seq", 4])
        .Build();

    /// <summary>Writes a version-1 .npy file as NumPy does: magic, header dict padded to 64 bytes, data.</summary>
    private static void WriteNpy(string path, string descr, long[] shape, byte[] data)
    {
        var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}), }}";
        var total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        using var file = File.Create(path);
        file.Write([0x93, .. "NUMPY"u8, 1, 0]);
        file.Write(BitConverter.GetBytes((ushort)header.Length));
        file.Write(Encoding.ASCII.GetBytes(header));
        file.Write(data);
    }

    public void Dispose() => _dir.Dispose();
}
