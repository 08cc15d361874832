using System.CommandLine;
using Sluice.Cli.Commands;

namespace Sluice.Cli;

/// <summary>The <c>sluice</c> command.</summary>
public static class Program
{
    /// <summary>Exit code for invalid command-line input (as with most Unix tools).</summary>
    public const int UsageError = 2;

    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("Sluice: an inference server for ONNX models and LLMs (KServe v2 / Triton HTTP and gRPC, OpenAI API).")
        {
            ServeCommand.Create(),
            ProfileCommand.Create(),
            SloCommand.Create(),
            BenchCommand.Create(),
            BuildCommand.Create(),
            VerifyCommand.Create(),
        };

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            var command = parsed.CommandResult.Command;
            var name = command == root ? "sluice" : $"sluice {command.Name}";
            var message = System.Text.RegularExpressions.Regex.Replace(parsed.Errors[0].Message, @"\s*[\r\n]+\s*", " ");   // one line
            await Console.Error.WriteLineAsync($"{name}: error: {message} (see '{name} --help')").ConfigureAwait(false);
            return UsageError;
        }

        ServeCommand.ApplyRuntimeSettings(parsed);   // before the thread pool starts its first worker

        // The host handles SIGTERM / Ctrl+C itself (drain, then exit 0), so System.CommandLine must not.
        return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
    }
}
