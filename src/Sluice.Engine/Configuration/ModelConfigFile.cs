namespace Sluice.Engine.Configuration;

/// <summary>Finds and reads a model's configuration file: <c>config.yaml</c> (or <c>config.yml</c>), else Triton's <c>config.pbtxt</c>.</summary>
internal static class ModelConfigFile
{
    /// <summary>The file names looked for, in order of preference.</summary>
    public static readonly IReadOnlyList<string> FileNames = ["config.yaml", "config.yml", "config.pbtxt"];

    /// <summary>Largest config file read; anything bigger is not a model config.</summary>
    private const long MaxFileBytes = 1 << 20;

    /// <summary>The config file of a model folder, or null when it has none.</summary>
    public static string? Find(string modelDirectory)
    {
        foreach (var name in FileNames)
        {
            var path = Path.Combine(modelDirectory, name);
            if (File.Exists(path))
            {
                return path;
            }
        }

        return null;
    }

    /// <summary>Reads and maps a model's config file; null when the model has none. Throws <see cref="ModelConfigException"/>.</summary>
    public static ParsedModelConfig? Read(string modelDirectory, string modelName)
    {
        var path = Find(modelDirectory);
        if (path is null)
        {
            return null;
        }

        var fileName = $"{modelName}/{Path.GetFileName(path)}";
        var info = new FileInfo(path);
        if (info.Length > MaxFileBytes)
        {
            throw new ModelConfigException($"{fileName}: file is {info.Length} bytes, more than the {MaxFileBytes} a config may have");
        }

        return Parse(File.ReadAllText(path), modelName, fileName);
    }

    /// <summary>Parses config text; the format follows the file name's extension.</summary>
    public static ParsedModelConfig Parse(string text, string modelName, string fileName)
    {
        var root = fileName.EndsWith(".pbtxt", StringComparison.OrdinalIgnoreCase)
            ? PbtxtParser.Parse(text, fileName)
            : YamlConfigReader.Parse(text, fileName);
        return ModelConfigMapper.Map(root, modelName, fileName);
    }
}
