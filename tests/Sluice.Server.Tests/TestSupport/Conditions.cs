namespace Sluice.Server.Tests.TestSupport;

/// <summary>Waits for a condition another thread makes true (not for time to pass), with a safety timeout.</summary>
internal static class Conditions
{
    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting until {what}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(5));
        }
    }
}
