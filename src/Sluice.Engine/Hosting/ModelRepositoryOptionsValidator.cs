using Microsoft.Extensions.Options;

namespace Sluice.Engine.Hosting;

/// <summary>Checks <see cref="ModelRepositoryOptions"/> at start, reporting every problem at once with the actual values.</summary>
internal sealed class ModelRepositoryOptionsValidator : IValidateOptions<ModelRepositoryOptions>
{
    private static readonly string[] Devices = ["cpu", "cuda", "tensorrt"];

    public ValidateOptionsResult Validate(string? name, ModelRepositoryOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        if (string.IsNullOrWhiteSpace(options.RepositoryPath))
        {
            builder.AddError("is required (the folder holding <model>/<version>/model.onnx)", nameof(options.RepositoryPath));
        }
        else if (!options.WriteDemoModel && !Directory.Exists(options.RepositoryPath))
        {
            builder.AddError($"folder '{options.RepositoryPath}' does not exist", nameof(options.RepositoryPath));
        }

        if (!Enum.IsDefined(options.ControlMode))
        {
            builder.AddError($"must be none, poll or explicit, got {(int)options.ControlMode}", nameof(options.ControlMode));
        }

        if (options.PollInterval <= TimeSpan.Zero)
        {
            builder.AddError($"must be positive, got {options.PollInterval}", nameof(options.PollInterval));
        }

        if (options.UnloadDrainTimeout < TimeSpan.Zero)
        {
            builder.AddError($"must not be negative, got {options.UnloadDrainTimeout}", nameof(options.UnloadDrainTimeout));
        }

        if (!Devices.Contains(options.Device))
        {
            builder.AddError($"must be one of {string.Join(", ", Devices)}, got '{options.Device}'", nameof(options.Device));
        }

        return builder.Build();
    }
}
