// A tiny test harness (no NUnit/xUnit on a bare Mono install): runs every test, prints one line
// per test and a final "N passed, M failed", and exits non-zero on failure.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Threading.Tasks;

namespace DownstreamApi.Tests
{
    internal sealed class TestFailure : Exception
    {
        public TestFailure(string message) : base(message) { }
    }

    internal static class Assert
    {
        public static void True(bool condition, string what)
        {
            if (!condition)
            {
                throw new TestFailure("expected: " + what);
            }
        }

        public static void Equal<T>(T expected, T actual, string what = "value")
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
            {
                throw new TestFailure(what + ": expected <" + expected + ">, got <" + actual + ">");
            }
        }

        public static void Contains(string needle, string haystack, string what = "text")
        {
            if (haystack == null || haystack.IndexOf(needle, StringComparison.Ordinal) < 0)
            {
                throw new TestFailure(what + ": expected to contain <" + needle + ">, got <" + haystack + ">");
            }
        }

        public static T Throws<T>(Action action) where T : Exception
        {
            try
            {
                action();
            }
            catch (T expected)
            {
                return expected;
            }
            catch (Exception other)
            {
                throw new TestFailure("expected " + typeof(T).Name + ", got " + other.GetType().Name + ": " + other.Message);
            }
            throw new TestFailure("expected " + typeof(T).Name + ", nothing was thrown");
        }

        /// <summary>Awaits the task <paramref name="action"/> returns (an exception thrown before
        /// it returns counts too).</summary>
        public static T ThrowsAsync<T>(Func<Task> action) where T : Exception
        {
            return Throws<T>(() => action().GetAwaiter().GetResult());
        }
    }

    /// <summary>examples/loopback_servers: prints "READY path" and serves until its stdin closes.</summary>
    internal sealed class LoopbackServers : IDisposable
    {
        private readonly Process process;

        public LoopbackServers(string executable, string directory)
        {
            var start = new ProcessStartInfo(executable, "\"" + directory + "\"")
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
            };
            process = Process.Start(start);
            string line = process.StandardOutput.ReadLine();
            if (line == null || !line.StartsWith("READY ", StringComparison.Ordinal))
            {
                Dispose();
                throw new InvalidOperationException("loopback_servers did not start: " + line);
            }
            ConfigPath = line.Substring("READY ".Length).Trim();
        }

        public string ConfigPath { get; private set; }

        public void Dispose()
        {
            try
            {
                process.StandardInput.Close();
                if (!process.WaitForExit(10000))
                {
                    process.Kill();
                }
            }
            catch (Exception)
            {
            }
            process.Dispose();
        }
    }

    internal static class Program
    {
        public static int Main(string[] args)
        {
            string repo = args.Length > 0 ? args[0] : Path.GetFullPath(Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "..", ".."));
            string executable = Environment.GetEnvironmentVariable("DSAPI_LOOPBACK_SERVERS")
                ?? Path.Combine(repo, "target", "debug", "examples", "loopback_servers");
            string directory = Path.Combine(Path.GetTempPath(), "dsapi-cs-" + Guid.NewGuid().ToString("N"));
            int passed = 0, failed = 0;
            try
            {
                using (var servers = new LoopbackServers(executable, directory))
                {
                    var tests = new Tests(servers.ConfigPath, directory, repo);
                    foreach (var test in tests.All())
                    {
                        try
                        {
                            test.Value();
                            passed++;
                            Console.WriteLine("PASS " + test.Key);
                        }
                        catch (Exception error)
                        {
                            failed++;
                            Console.WriteLine("FAIL " + test.Key + ": " + error);
                        }
                    }
                }
            }
            catch (Exception error)
            {
                failed++;
                Console.WriteLine("FAIL setup: " + error);
            }
            finally
            {
                try { Directory.Delete(directory, true); } catch (Exception) { }
            }
            Console.WriteLine(passed + " passed, " + failed + " failed");
            return failed == 0 ? 0 : 1;
        }
    }
}
