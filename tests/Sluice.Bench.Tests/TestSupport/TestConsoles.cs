using Spectre.Console;

namespace Sluice.Bench.Tests.TestSupport;

/// <summary>A Spectre console writing into a string (no ANSI, not interactive), so tests can read what a user would see.</summary>
internal static class TestConsoles
{
    public static (IAnsiConsole Console, StringWriter Output) Create()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = 240;
        return (console, output);
    }
}
