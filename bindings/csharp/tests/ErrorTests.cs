using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Text.RegularExpressions;
using System.Threading.Tasks;

namespace DownstreamApi.Tests
{
    internal sealed partial class Tests
    {
        /// <summary>Each exception type a user can meet, from the input that causes it. Not here:
        /// NotFound and BufferTooSmall (statuses of native functions the wrapper handles itself)
        /// and NativePanic (a library bug).</summary>
        private void EveryExceptionFromARealBadInput()
        {
            var reached = new HashSet<Type>();
            Action<Type, Func<Task>, string> check = (type, call, needle) =>
            {
                DownstreamApiException error = null;
                try
                {
                    call().GetAwaiter().GetResult();
                }
                catch (DownstreamApiException thrown)
                {
                    error = thrown;
                }
                Assert.True(error != null, type.Name + " was thrown");
                Assert.Equal(type, error.GetType(), "exception type for " + needle);
                Assert.Contains(needle, error.Message, type.Name + " message");
                reached.Add(type);
            };
            Func<Action, Func<Task>> sync = action => () => { action(); return Task.FromResult(0); };

            check(typeof(DownstreamApiConfigurationException), sync(() => DownstreamApiClient.FromJson("{not json")), "JSON");
            check(typeof(DownstreamApiConfigurationException), sync(() => DownstreamApiClient.FromJson(
                @"{""AzureAd"": {""ClientCredentials"": ""not a list""}, ""DownstreamApis"": {}}")), "AzureAd.ClientCredentials");
            string missingFile = Path.Combine(directory, "missing", "appsettings.json");
            check(typeof(DownstreamApiIOException), sync(() => DownstreamApiClient.FromFile(missingFile)), missingFile);
            using (var api = NewClient())
            {
                check(typeof(UnknownApiException), () => api.CallApiForAppAsync("Échø"), "Échø");
                check(typeof(InvalidArgumentException), sync(() => api.AcquireTokenForApp("  ")), "scope");
                check(typeof(InsecureUrlException), () => api.CallApiForAppAsync("Mtls", o => o.BaseUrl = BaseUrl().Replace("https://", "http://")), "http://");
                check(typeof(NetworkException), () => api.CallApiForAppAsync("Mtls", o => o.BaseUrl = "https://127.0.0.1:9/"), "127.0.0.1:9");
                check(typeof(DownstreamApiTimeoutException), () => api.CallApiForAppAsync("Echo", o =>
                {
                    o.RelativePath = "slow/3000";
                    o.TimeoutSeconds = 0.5;
                }), "0.5 s left of the call's timeout");
                check(typeof(DownstreamApiProtocolException), () => api.CallApiForAppAsync("Echo", o => o.RelativePath = "big-head"), "head");
                check(typeof(UnsupportedException), () => api.CreateAuthorizationHeaderAsync("Mtls"), "MTLS");
                check(typeof(DownstreamApiConfigurationException), () => api.CallApiForAppAsync("Bearer", o => o.ProtocolScheme = "MTLS_POP"), "overrides.RequestAppToken");
                check(typeof(DownstreamApiUserInteractionRequiredException), () => api.CallApiForUserAsync("Users", null, UserToken("mfa")), "AADSTS50076");
                check(typeof(DownstreamApiTokenInvalidException), () => api.ValidateTokenAsync("a.b"), "malformed token");
            }
            using (var api = DownstreamApiClient.FromJson(ConfigWithCertificate(Path.Combine(directory, "missing.pem"))))
            {
                check(typeof(CredentialUnavailableException), () => api.CallApiForAppAsync("Mtls"), "missing.pem");
            }
            using (var api = DownstreamApiClient.FromJson(ConfigWithCertificate(Path.Combine(directory, "foreign.pem"))))
            {
                check(typeof(CertificateRejectedException), () => api.CallApiForAppAsync("Mtls"), "rejected again");
            }
            using (var api = DownstreamApiClient.FromJson(Regex.Replace(configJson, @"""CaBundlePath""\s*:\s*""[^""]*""", @"""ConnectTimeoutSeconds"": 5")))
            {
                check(typeof(DownstreamApiTlsException), () => api.CallApiForAppAsync("Mtls"), "certificate");
            }
            using (var api = DownstreamApiClient.FromJson(configJson.Replace("\"ClientId\": \"wrapper-app\"", "\"ClientId\": \"unregistered-app\"")))
            {
                check(typeof(TokenAcquisitionException), () => api.CallApiForAppAsync("Bearer"), "unregistered-app");
            }
            var missing = typeof(DownstreamApiException).Assembly.GetExportedTypes()
                .Where(t => typeof(DownstreamApiException).IsAssignableFrom(t) && t != typeof(DownstreamApiException))
                .Where(t => !reached.Contains(t))
                .Select(t => t.Name)
                .OrderBy(n => n);
            Assert.Equal("BufferTooSmallException, NativePanicException, NotFoundException", string.Join(", ", missing), "exception types not reached");
        }

        private void ArgumentErrors()
        {
            using (var api = NewClient())
            {
                Assert.Throws<ArgumentNullException>(() => DownstreamApiClient.FromJson(null));
                Assert.Throws<ArgumentNullException>(() => DownstreamApiClient.FromFile(null));
                Assert.ThrowsAsync<ArgumentNullException>(() => api.CallApiForAppAsync(null));
                Assert.Throws<ArgumentNullException>(() => api.CallApiForApp(null));
                Assert.ThrowsAsync<ArgumentNullException>(() => api.CreateAuthorizationHeaderForAppAsync(null));
                Assert.Throws<ArgumentNullException>(() => api.AcquireTokenForApp(null));
                Assert.Throws<ArgumentException>(() => api.CallApiForApp("Mtls\0"));
                Assert.Throws<UnknownApiException>(() => api.GetOptions("Nope"));
                var error = Assert.ThrowsAsync<ArgumentException>(() => api.CallApiForAppAsync("Mtls", o => o.BaseUrl = null));
                Assert.Contains("BaseUrl", error.Message);
                Assert.ThrowsAsync<InvalidOperationException>(() => api.CallApiForAppAsync("Mtls", o => { throw new InvalidOperationException("delegate bug"); }));
            }
        }

        private void UseAfterDispose()
        {
            var api = NewClient();
            Assert.Equal(200, (int)api.CallApiForApp("Mtls").StatusCode, "status before Dispose");
            api.Dispose();
            api.Dispose();
            Assert.Throws<ObjectDisposedException>(() => api.CallApiForApp("Mtls"));
            Assert.ThrowsAsync<ObjectDisposedException>(() => api.CallApiForAppAsync("Mtls"));
            Assert.ThrowsAsync<ObjectDisposedException>(() => api.CallApiForAppAsync("Mtls", o => o.HttpMethod = "POST"));
            Assert.ThrowsAsync<ObjectDisposedException>(() => api.GetForAppAsync<Inspected>("Inspect"));
            Assert.ThrowsAsync<ObjectDisposedException>(() => api.CreateAuthorizationHeaderAsync("Bearer"));
            Assert.ThrowsAsync<ObjectDisposedException>(() => api.CreateAuthorizationHeaderForAppAsync("api://x/.default"));
            Assert.Throws<ObjectDisposedException>(() => api.AcquireTokenForApp("api://x/.default"));
            Assert.Throws<ObjectDisposedException>(() => api.GetOptions("Mtls"));
            Assert.Throws<ObjectDisposedException>(() => api.DescribeCredentials());
        }

        /// <summary>Creating and disposing 10,000 clients leaves no file descriptor, thread or
        /// native memory behind: counted from /proc after a warm-up.</summary>
        private void CreateDisposeCycles()
        {
            if (!Directory.Exists("/proc/self/fd"))
            {
                Console.WriteLine("  (skipped: no /proc on this system)");
                return;
            }
            Func<int> descriptors = () => Directory.GetFiles("/proc/self/fd").Length;
            Func<long> residentKiB = () => long.Parse(Regex.Match(File.ReadAllText("/proc/self/status"), @"VmRSS:\s+(\d+)").Groups[1].Value);
            Func<int> threads = () => Directory.GetDirectories("/proc/self/task").Length;
            for (int i = 0; i < 500; i++)
            {
                DownstreamApiClient.FromJson(configJson).Dispose();
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            int fdBefore = descriptors(), threadsBefore = threads();
            long rssBefore = residentKiB();
            var clock = Stopwatch.StartNew();
            for (int i = 0; i < 10000; i++)
            {
                var api = DownstreamApiClient.FromJson(configJson);
                api.Dispose();
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            int fdAfter = descriptors(), threadsAfter = threads();
            long rssAfter = residentKiB();
            Console.WriteLine("  10,000 cycles in " + clock.ElapsedMilliseconds + " ms; fds " + fdBefore + " -> " + fdAfter +
                ", threads " + threadsBefore + " -> " + threadsAfter + ", RSS " + rssBefore + " -> " + rssAfter + " KiB");
            Assert.True(fdAfter <= fdBefore, "file descriptors did not grow: " + fdBefore + " -> " + fdAfter);
            Assert.True(threadsAfter <= threadsBefore + 2, "threads did not grow: " + threadsBefore + " -> " + threadsAfter);
            // A leak of one client (agents, config, root store) per cycle would be tens of MB.
            Assert.True(rssAfter - rssBefore < 16 * 1024, "resident memory grew by " + (rssAfter - rssBefore) + " KiB");
        }
    }
}
