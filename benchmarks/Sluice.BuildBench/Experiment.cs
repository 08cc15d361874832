using Sluice.Core.Tensors;
using Sluice.Onnx.Build;

namespace Sluice.BuildBench;

internal static class Experiment
{
    public static void Run(string work)
    {
        var modelPath = Path.Combine(work, "source/minilm/1/model.onnx");
        var source = OnnxModelFile.Read(modelPath);
        var data = RepresentativeData.Load(Path.Combine(work, "data"), source, 8);
        var heldOut = data.Skip(4).ToList();
        var calib = data.Take(4).ToList();
        using var original = new ModelExecutor(modelPath);
        var reference = heldOut.Select(s => original.Run(s.Inputs)[0]).ToList();
        double Cos(string path)
        {
            using var e = new ModelExecutor(path);
            var values = new List<double>();
            for (var s = 0; s < heldOut.Count; s++)
            {
                var o = e.Run(heldOut[s].Inputs)[0];
                var mask = heldOut[s].Inputs.First(t => t.Name == "attention_mask");
                values.AddRange(AccuracyGate.RowCosines(AccuracyGate.MeanPool(reference[s].Values, reference[s].Shape, mask), AccuracyGate.MeanPool(o.Values, o.Shape, mask), 384));
            }
            return values.Average();
        }
        string Save(Sluice.Onnx.Graph.Proto.ModelProto m, string name) { var p = Path.Combine(work, name + ".onnx"); OnnxModelFile.Write(m, p); return p; }

        var weighted = source.Graph.Node.Where(n => n.OpType == "MatMul" && source.Graph.Initializer.Any(i => i.Name == n.Input[1])).Select(n => n.Name).ToList();
        foreach (var pct in new[] { 99.99, 99.9 })
        {
            var m = source.Clone();
            var table = ActivationCalibrator.Calibrate(m, QdqQuantizer.ActivationTensors(m), calib, CalibrationMethod.Percentile, pct, work);
            QdqQuantizer.Quantize(m, table);
            Console.WriteLine($"qdq pct {pct}: {Cos(Save(m, "e4")):F5}");
        }
        var sens = new List<(string, double)>();
        for (var i = 0; i < weighted.Count; i++)
        {
            var m = source.Clone(); DynamicQuantizer.Quantize(m, weighted.Where((_, j) => j != i).ToHashSet());
            var c = Cos(Save(m, "e5"));
            sens.Add((weighted[i], c));
            Console.WriteLine($"only {i} ({weighted[i]}): {c:F5}");
        }
    }
}
