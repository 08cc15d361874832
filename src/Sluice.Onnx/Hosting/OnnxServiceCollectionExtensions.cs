using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Sluice.Core.Runtime;
using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Hosting;

/// <summary>Registers the ONNX Runtime backend in the composition root.</summary>
public static class OnnxServiceCollectionExtensions
{
    /// <summary>Adds <see cref="OnnxModelBackend"/> as an <see cref="IModelBackend"/> (picked by its <c>Name</c>, <c>onnxruntime</c>).</summary>
    public static IServiceCollection AddOnnxRuntime(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IModelBackend, OnnxModelBackend>());
        services.TryAddSingleton<Sluice.Core.Generation.ISlotDecoderRunnerFactory, OnnxSlotDecoderRunnerFactory>();
        return services;
    }
}
