using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Sluice.Core.Generation;

namespace Sluice.Server.Generation;

/// <summary>
/// The <c>n</c> sequences of one request: admitted together (all or none), read as one stream of updates tagged with the
/// choice index, and cancelled together when disposed. Sequence <c>i</c> samples with <c>seed + i</c>, so a seeded request
/// is reproducible and its choices differ.
/// </summary>
internal sealed class GenerationRun : IAsyncDisposable
{
    private readonly GenerationHandle[] _handles;

    private GenerationRun(GenerationHandle[] handles) => _handles = handles;

    /// <summary>The id of the first sequence (for logs).</summary>
    public string Id => _handles[0].Id;

    /// <summary>Tokens in the prompt (shared by every choice).</summary>
    public int PromptTokenCount => _handles[0].PromptTokenCount;

    /// <summary>How many sequences (choices) run.</summary>
    public int Count => _handles.Length;

    /// <summary>
    /// Admits <paramref name="n"/> sequences; when one is refused (QueueFull, Draining...), those already admitted are cancelled
    /// and the refusal is rethrown.
    /// </summary>
    public static async Task<GenerationRun> StartAsync(
        IGenerationService service, string model, int[] promptTokens, SamplingParameters sampling, int n, string protocol,
        CancellationToken cancellationToken)
    {
        var handles = new List<GenerationHandle>(n);
        try
        {
            for (var i = 0; i < n; i++)
            {
                var seeded = sampling.Seed is { } seed ? sampling with { Seed = unchecked(seed + i) } : sampling;
                handles.Add(service.Start(new GenerationRequest(model, promptTokens, seeded, protocol), cancellationToken));
            }
        }
        catch
        {
            foreach (var handle in handles)
            {
                await handle.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }

        return new GenerationRun([.. handles]);
    }

    /// <summary>
    /// Every sequence's updates as they come, each tagged with its choice index; ends when all sequences have sent their final
    /// update. Throws <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> is cancelled.
    /// </summary>
    public async IAsyncEnumerable<(int Index, GenerationUpdate Update)> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (_handles.Length == 1)
        {
            await foreach (var update in _handles[0].Updates(cancellationToken).ConfigureAwait(false))
            {
                yield return (0, update);
            }

            yield break;
        }

        // One pump per sequence into a channel with one reader; the pumps stop with the reader (linked token).
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channel = Channel.CreateUnbounded<(int, GenerationUpdate)>(new UnboundedChannelOptions { SingleReader = true });
        var pumps = _handles.Select((handle, index) => PumpAsync(handle, index, channel.Writer, stop.Token)).ToArray();
        _ = Task.WhenAll(pumps).ContinueWith(
            static (all, writer) => ((ChannelWriter<(int, GenerationUpdate)>)writer!).TryComplete(all.Exception?.InnerException),
            channel.Writer, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            await foreach (var item in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return item;
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(pumps).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is OperationCanceledException || cancellationToken.IsCancellationRequested)
            {
                // the reader is gone; the pumps' end is all that matters here
            }
        }
    }

    private static async Task PumpAsync(GenerationHandle handle, int index, ChannelWriter<(int, GenerationUpdate)> writer, CancellationToken cancellationToken)
    {
        await foreach (var update in handle.Updates(cancellationToken).ConfigureAwait(false))
        {
            await writer.WriteAsync((index, update), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Cancels every sequence that has not ended; their slots and caches are freed at the next scheduler step.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var handle in _handles)
        {
            await handle.DisposeAsync().ConfigureAwait(false);
        }
    }
}
