namespace Sluice.Onnx;

/// <summary>Event ids of this project's log messages: the runtime block (3000s).</summary>
internal static class EventIds
{
    public const int RunnerCreated = 3000;
    public const int RunnerLoadFailed = 3001;
    public const int RunnerDisposed = 3002;
    public const int SignatureRead = 3003;
}
