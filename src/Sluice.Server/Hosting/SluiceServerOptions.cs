using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Sluice.Server.Hosting;

/// <summary>How the server listens and what it accepts (bound from the command line, validated at start).</summary>
public sealed class SluiceServerOptions
{
    /// <summary>The KServe v2 HTTP port (HTTP/1.1 and h2c); 0 picks a free port.</summary>
    /// <value>The default value is 8000, Triton's.</value>
    [Range(0, 65535)]
    public int HttpPort { get; set; } = 8000;

    /// <summary>The gRPC port (HTTP/2 with prior knowledge only); 0 picks a free port.</summary>
    /// <value>The default value is 8001, Triton's.</value>
    [Range(0, 65535)]
    public int GrpcPort { get; set; } = 8001;

    /// <summary>The address both ports bind to, e.g. <c>0.0.0.0</c>, <c>127.0.0.1</c> or <c>::</c>.</summary>
    /// <value>The default value is <c>0.0.0.0</c>.</value>
    [Required]
    public string ListenAddress { get; set; } = "0.0.0.0";

    /// <summary>Largest request body accepted; larger ones get 413 before they are read.</summary>
    /// <value>The default value is 64 MiB.</value>
    [Range(1024, int.MaxValue)]
    public long MaxRequestBodyBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Deepest JSON nesting accepted in a request.</summary>
    /// <value>The default value is 32.</value>
    [Range(4, 256)]
    public int MaxJsonDepth { get; set; } = 32;

    /// <summary>Whether <c>/v2/repository/models/{m}/load</c> and <c>/unload</c> are served (they answer 404 otherwise).</summary>
    /// <value>The default value is false.</value>
    public bool EnableModelManagement { get; set; }

    /// <summary>The bearer token management calls must carry; required when <see cref="EnableModelManagement"/> is on.</summary>
    public string? ManagementToken { get; set; }

    /// <summary>How long shutdown waits for in-flight requests after readiness turned false.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The SLO spec file (Sluice YAML or OpenSLO v1); null applies the built-in default spec (examples/slo.yaml).</summary>
    public string? SloSpecPath { get; set; }

    /// <summary>Where the server keeps its state (the SLO history, <c>slo-history.db</c>).</summary>
    /// <value>The default value is <c>./data</c>.</value>
    [Required]
    public string DataDirectory { get; set; } = "./data";

    /// <summary>An Alertmanager-compatible webhook receiver that SLO alert transitions are POSTed to; null sends none.</summary>
    public string? SloWebhookUrl { get; set; }

    /// <summary>The Prometheus metrics port (<c>/metrics</c> only); 0 picks a free port.</summary>
    /// <value>The default value is 8002, Triton's.</value>
    [Range(0, 65535)]
    public int MetricsPort { get; set; } = 8002;

    /// <summary>Whether telemetry runs at all: metrics (and their port), request spans, recent-input capture, live profiling.</summary>
    /// <value>The default value is true.</value>
    public bool EnableTelemetry { get; set; } = true;

    /// <summary>Extra latency histogram bucket boundaries in seconds; every SLO latency threshold is always added.</summary>
    public double[] LatencyBucketsSeconds { get; set; } = [];

    /// <summary>Live per-layer profiling: profile 1 in N batches of each model on a shadow session; 0 turns it off.</summary>
    /// <value>The default value is 0 (off).</value>
    [Range(0, int.MaxValue)]
    public int ProfileSampleRate { get; set; }

    /// <summary>
    /// Whether socket I/O continues on the I/O threads instead of hopping to the thread pool (Kestrel's
    /// <c>UnsafePreferInlineScheduling</c>). Each request crosses several such hops in each direction; on a mostly idle many-core
    /// machine each wakes a sleeping thread, so inlining shortens every round trip. The cost: HTTP/1.1 handlers then run on an
    /// I/O thread, so one slow request delays the other connections that share it. gRPC (HTTP/2) handlers still run on the pool.
    /// </summary>
    /// <value>The default value is false.</value>
    public bool InlineIo { get; set; }

    /// <summary>Every validation error of these options (empty when valid), as the host would report them at start.</summary>
    public IReadOnlyList<string> Validate() => SluiceServerRulesValidator.Check(this);
}

/// <summary>Checks the attribute rules of <see cref="SluiceServerOptions"/> (source-generated).</summary>
[OptionsValidator]
internal sealed partial class SluiceServerOptionsValidator : IValidateOptions<SluiceServerOptions>;

/// <summary>Cross-field rules of <see cref="SluiceServerOptions"/>; every error is reported at once.</summary>
internal sealed class SluiceServerRulesValidator : IValidateOptions<SluiceServerOptions>
{
    public ValidateOptionsResult Validate(string? name, SluiceServerOptions options)
    {
        var builder = new ValidateOptionsResultBuilder();
        if (options.EnableModelManagement && string.IsNullOrWhiteSpace(options.ManagementToken))
        {
            builder.AddError("a management token is required when model management is enabled", nameof(options.ManagementToken));
        }

        if (options.DrainTimeout < TimeSpan.Zero || options.DrainTimeout > TimeSpan.FromHours(1))
        {
            builder.AddError($"the drain timeout must be between 0 and 1 hour, not {options.DrainTimeout}", nameof(options.DrainTimeout));
        }

        if (!System.Net.IPAddress.TryParse(options.ListenAddress, out _) && options.ListenAddress is not ("localhost" or "*"))
        {
            builder.AddError($"'{options.ListenAddress}' is not an IP address", nameof(options.ListenAddress));
        }

        if (options.HttpPort != 0 && options.HttpPort == options.GrpcPort)
        {
            builder.AddError($"the HTTP and gRPC ports must differ (both are {options.HttpPort})", nameof(options.GrpcPort));
        }

        if (options.EnableTelemetry && options.MetricsPort != 0 && (options.MetricsPort == options.HttpPort || options.MetricsPort == options.GrpcPort))
        {
            builder.AddError($"the metrics port must differ from the HTTP and gRPC ports (it is {options.MetricsPort})", nameof(options.MetricsPort));
        }

        foreach (var bound in options.LatencyBucketsSeconds)
        {
            if (!double.IsFinite(bound) || bound <= 0)
            {
                builder.AddError($"latency bucket boundaries must be positive seconds, not {bound}", nameof(options.LatencyBucketsSeconds));
            }
        }

        if (options.SloWebhookUrl is { } webhook
            && (!Uri.TryCreate(webhook, UriKind.Absolute, out var webhookUri) || webhookUri.Scheme is not ("http" or "https")))
        {
            builder.AddError($"'{webhook}' is not an absolute http or https URL", nameof(options.SloWebhookUrl));
        }

        return builder.Build();
    }

    /// <summary>Validates outside DI (the CLI reports option errors before building the host); empty when valid.</summary>
    public static IReadOnlyList<string> Check(SluiceServerOptions options)
    {
        var errors = new List<string>();
        var attributes = new SluiceServerOptionsValidator().Validate(null, options);
        if (attributes.Failed)
        {
            errors.AddRange(attributes.Failures);
        }

        var rules = new SluiceServerRulesValidator().Validate(null, options);
        if (rules.Failed)
        {
            errors.AddRange(rules.Failures);
        }

        return errors;
    }
}
