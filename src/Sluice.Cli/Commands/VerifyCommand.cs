using System.CommandLine;
using Sluice.Onnx.Build;

namespace Sluice.Cli.Commands;

/// <summary>
/// <c>sluice verify ENGINE_DIR</c>: checks that an engine built by <c>sluice build</c> suits this machine (hardware
/// fingerprint) and is intact (engine file hash), for CI/CD. Exit 0 when it does, 1 when something differs.
/// </summary>
public static class VerifyCommand
{
    /// <summary>Exit code when the engine does not match this machine or its file changed.</summary>
    public const int Mismatch = 1;

    public static Command Create()
    {
        var engine = new Argument<string>("ENGINE_DIR") { Description = "An engine's version folder (<repo>/<name>/<version>/ with manifest.json)." };
        var command = new Command("verify", "Check that an engine built by 'sluice build' matches this machine's hardware and is intact; exits 1 on a mismatch.")
        {
            engine,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            var directory = Path.GetFullPath(parse.GetValue(engine)!);
            EngineManifest manifest;
            try
            {
                manifest = EngineManifest.Read(directory);
            }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException or DirectoryNotFoundException)
            {
                await Console.Error.WriteLineAsync($"sluice verify: error: {e.Message}").ConfigureAwait(false);
                return Program.UsageError;
            }

            var current = HardwareFingerprint.Current();
            var differences = HardwareFingerprint.Compare(manifest.Hardware, current).ToList();
            var enginePath = Path.Combine(directory, manifest.EngineFile);
            if (!File.Exists(enginePath))
            {
                differences.Add($"Engine file {manifest.EngineFile} is missing.");
            }
            else if (OnnxModelFile.Sha256(enginePath) != manifest.EngineSha256)
            {
                differences.Add($"Engine file {manifest.EngineFile} changed since the build (SHA-256 differs from the manifest).");
            }

            Console.WriteLine($"engine:    {manifest.ModelName} version {manifest.Version}, {manifest.Precision}, built {manifest.CreatedUtc:u} with ONNX Runtime {manifest.OnnxRuntimeVersion} for {manifest.ExecutionProvider}");
            Console.WriteLine($"accuracy:  {manifest.Accuracy.Metric} {manifest.Accuracy.Value:F5} (threshold {manifest.Accuracy.Threshold})");
            Console.WriteLine($"built on:  {Describe(manifest.Hardware)}");
            Console.WriteLine($"this host: {Describe(current)}");
            if (differences.Count == 0)
            {
                Console.WriteLine("OK: the engine matches this machine.");
                return 0;
            }

            Console.WriteLine($"MISMATCH ({differences.Count}):");
            foreach (var difference in differences)
            {
                Console.WriteLine($"  - {difference}");
            }

            return Mismatch;
        });
        return command;
    }

    private static string Describe(HardwareFingerprint fingerprint) =>
        $"{fingerprint.CpuModel} ({fingerprint.Architecture}, {fingerprint.LogicalCores} logical cores; {string.Join(" ", fingerprint.CpuFlags)}); " +
        (fingerprint.Gpus.Count == 0 ? "no GPU" : string.Join("; ", fingerprint.Gpus.Select(g => $"{g.Name} sm {g.ComputeCapability}, driver {g.DriverVersion}, CUDA {g.CudaVersion}")));
}
