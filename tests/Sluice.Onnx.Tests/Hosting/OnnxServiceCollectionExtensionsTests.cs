using Microsoft.Extensions.DependencyInjection;
using Sluice.Core.Runtime;
using Sluice.Onnx.Hosting;
using Sluice.Onnx.Runtime;

namespace Sluice.Onnx.Tests.Hosting;

public sealed class OnnxServiceCollectionExtensionsTests
{
    [Fact]
    public void AddOnnxRuntime_CalledTwice_RegistersOneSingletonBackend()
    {
        var services = new ServiceCollection();

        services.AddOnnxRuntime().AddOnnxRuntime();

        var descriptor = Assert.Single(services, d => d.ServiceType == typeof(IModelBackend));
        Assert.Equal(typeof(OnnxModelBackend), descriptor.ImplementationType);
        Assert.Equal(ServiceLifetime.Singleton, descriptor.Lifetime);
    }
}
