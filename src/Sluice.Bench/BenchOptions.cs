using Sluice.Bench.Clients;
using Sluice.Bench.Load;

namespace Sluice.Bench;

/// <summary>Everything <c>sluice bench</c> was asked to do (the command line, parsed).</summary>
public sealed class BenchOptions
{
    /// <summary>The KServe v2 HTTP base address (also used for metadata and statistics unless the protocol is gRPC).</summary>
    public Uri HttpUrl { get; set; } = new("http://127.0.0.1:8000/");

    /// <summary>The gRPC address (<c>inference.GRPCInferenceService</c>).</summary>
    public Uri GrpcUrl { get; set; } = new("http://127.0.0.1:8001/");

    /// <summary>The protocol of the inference requests.</summary>
    public BenchProtocol Protocol { get; set; } = BenchProtocol.Http;

    /// <summary>The model to benchmark.</summary>
    public string Model { get; set; } = "minilm";

    /// <summary>A version, or null for the server's choice.</summary>
    public string? ModelVersion { get; set; }

    /// <summary>Batch size for dynamic first dimensions.</summary>
    public int BatchSize { get; set; } = 1;

    /// <summary>Length for the other dynamic dimensions.</summary>
    public int SequenceLength { get; set; } = 128;

    /// <summary>Token id range for id-like integer inputs.</summary>
    public (long Min, long Max) TokenRange { get; set; } = (1000, 30000);

    /// <summary>Input data files (one JSON request body, or NAME=file.npy entries), or empty to synthesize inputs.</summary>
    public IReadOnlyList<string> InputData { get; set; } = [];

    /// <summary>Outputs to ask for; empty asks for every output the model has.</summary>
    public IReadOnlyList<string> Outputs { get; set; } = [];

    /// <summary>Closed-loop concurrencies, or null.</summary>
    public IReadOnlyList<int>? Concurrency { get; set; }

    /// <summary>Open-loop request rates, or null.</summary>
    public IReadOnlyList<double>? Rate { get; set; }

    /// <summary>The open loop's arrival pattern.</summary>
    public ArrivalPattern Arrival { get; set; } = ArrivalPattern.Constant;

    /// <summary>Measurement window.</summary>
    public MeasurementWindow Window { get; set; } = MeasurementWindow.For(TimeSpan.FromSeconds(5));

    /// <summary>Warm-up before each step.</summary>
    public TimeSpan Warmup { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Stability percentage (perf_analyzer's <c>--stability-percentage</c>).</summary>
    public double StabilityPercentage { get; set; } = 10;

    /// <summary>Most windows per step.</summary>
    public int MaxTrials { get; set; } = 10;

    /// <summary>A model file to run in-process with the same workload, or null.</summary>
    public string? InProcessModel { get; set; }

    /// <summary>Opens <see cref="InProcessModel"/> as a bare session; supplied by the CLI (Bench never sees the runtime).</summary>
    public Func<string, IInProcessTarget>? InProcessFactory { get; set; }

    /// <summary>Run the saturating sweep and report (and store) the peak.</summary>
    public bool Calibrate { get; set; }

    /// <summary>Where to store the calibration (<c>&lt;repo&gt;/&lt;model&gt;/&lt;version&gt;/calibration.json</c>), or null to print it.</summary>
    public string? ModelRepository { get; set; }

    /// <summary>The hardware fingerprint id stored with a calibration.</summary>
    public string Hardware { get; set; } = "unknown";

    /// <summary>The sluice version stored with a calibration.</summary>
    public string SluiceVersion { get; set; } = typeof(BenchOptions).Assembly.GetName().Version?.ToString() ?? "0";

    /// <summary>SLO spec files (Sluice or OpenSLO YAML), or empty.</summary>
    public IReadOnlyList<string> SloFiles { get; set; } = [];

    /// <summary>Goodput search: relative gap between pass and fail at which the search stops.</summary>
    public double GoodputPrecision { get; set; } = 0.05;

    /// <summary>Goodput search: first rate tried.</summary>
    public double GoodputStartRate { get; set; } = 8;

    /// <summary>Goodput search: highest rate tried.</summary>
    public double GoodputMaxRate { get; set; } = 100_000;

    /// <summary>Folder for CSV, JSON and plots, or null.</summary>
    public string? ReportDirectory { get; set; }

    /// <summary>The most requests an open loop keeps in flight before it drops sends.</summary>
    public int MaxInFlight { get; set; } = 16_384;
}
