using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Text.RegularExpressions;
using System.Threading;

namespace DownstreamApi.Tests
{
    internal sealed partial class Tests
    {
        private void CertificateChangedEvents()
        {
            var events = new List<CertificateChangedEventArgs>();
            using (var api = NewClient())
            {
                api.CertificateChanged += (sender, e) => { lock (events) { events.Add(e); } };
                api.CallApiForApp("Mtls");
                api.CallApiForAppAsync("Mtls").Wait();
            }
            Assert.Equal(
                "Selected,SuccessfullyUsed,SuccessfullyUsed",
                string.Join(",", events.Select(e => e.Action.ToString())),
                "actions");
            var selected = events[0];
            Assert.True(Regex.IsMatch(selected.Thumbprint, "^[0-9A-F]{40}$"), "upper-case SHA-1 thumbprint, got " + selected.Thumbprint);
            Assert.Contains("wrapper-client", selected.Subject, "subject");
            Assert.Contains("ClientCredentials[0]", selected.Source, "source");
            Assert.Equal("MTLS", selected.Protocol, "protocol");
            Assert.True(selected.ApiUrl.StartsWith("https://", StringComparison.Ordinal), "API URL, got " + selected.ApiUrl);
            Assert.Equal(null, selected.Error, "error");
        }

        /// <summary>The certificate file is renamed over, as secret-store agents do, while the
        /// server accepts only the renewed certificate: the rejection drops the old one, the reload
        /// selects the new one, and the retried call succeeds.</summary>
        private void CertificateChangedDuringRotation()
        {
            string rotating = Path.Combine(directory, "rotating.pem");
            File.Copy(Path.Combine(directory, "client.pem"), rotating, true);
            var events = new List<CertificateChangedEventArgs>();
            using (var api = DownstreamApiClient.FromJson(ConfigWithCertificate(rotating)))
            {
                api.CertificateChanged += (sender, e) => { lock (events) { events.Add(e); } };
                Assert.Equal(HttpStatusCode.OK, api.CallApiForAppAsync("Mtls").Result.StatusCode, "old certificate in use");
                // Rejected, reloaded (the same file), rejected again: the answer is a response.
                Assert.Equal(495, (int)api.CallApiForAppAsync("Renewed").Result.StatusCode, "the old certificate is refused");

                string staged = rotating + ".new";
                File.Copy(Path.Combine(directory, "renewed.pem"), staged, true);
                File.Delete(rotating);
                File.Move(staged, rotating);
                var renewed = api.CallApiForAppAsync("Renewed").Result;
                Assert.Equal(HttpStatusCode.OK, renewed.StatusCode, "the retried call after the reload");
                Assert.Equal("hello wrapper-client-renewed", Text(renewed), "the server saw the renewed certificate");
            }
            string actions = string.Join(",", events.Select(e => e.Action + ":" + Regex.Match(e.Subject, "CN=([^,]+)").Groups[1].Value));
            var old = events.First();
            var last = events.Last(e => e.Action == CertificateObserverAction.Selected);
            Assert.True(actions.EndsWith("Deselected:wrapper-client,Selected:wrapper-client-renewed,SuccessfullyUsed:wrapper-client-renewed", StringComparison.Ordinal), "actions: " + actions);
            Assert.True(old.Thumbprint != last.Thumbprint, "a new thumbprint");
            var deselected = events.Last(e => e.Action == CertificateObserverAction.Deselected);
            Assert.True(!string.IsNullOrEmpty(deselected.Error), "Deselected says why");
        }

        private void HandlerExceptionsAreSwallowed()
        {
            int seen = 0;
            var logged = new List<string>();
            Logging.SetHandler((level, message) => { lock (logged) { logged.Add(message); } }, DownstreamApiLogLevel.Error);
            try
            {
                using (var api = NewClient())
                {
                    api.CertificateChanged += (sender, e) => { throw new InvalidOperationException("observer bug"); };
                    api.CertificateChanged += (sender, e) => Interlocked.Increment(ref seen);
                    Assert.Equal(HttpStatusCode.OK, api.CallApiForApp("Mtls").StatusCode, "status");
                }
            }
            finally
            {
                Logging.SetHandler(null);
            }
            Assert.Equal(2, seen, "events after a throwing handler");
            Assert.True(logged.Any(m => m.Contains("observer bug")), "the handler's exception was logged");
        }

        private void LogHandler()
        {
            var messages = new List<KeyValuePair<DownstreamApiLogLevel, string>>();
            Logging.SetHandler((level, message) => { lock (messages) { messages.Add(new KeyValuePair<DownstreamApiLogLevel, string>(level, message)); } }, DownstreamApiLogLevel.Debug);
            try
            {
                using (var api = NewClient())
                {
                    api.CallApiForApp("Mtls");
                }
            }
            finally
            {
                Logging.SetHandler(null);
            }
            Assert.True(messages.Any(m => m.Key == DownstreamApiLogLevel.Info && m.Value.Contains("selected")), "an Info 'selected' message");
            Assert.True(messages.Any(m => m.Key == DownstreamApiLogLevel.Debug && m.Value.Contains("calling API")), "a Debug message per call");

            int count = 0;
            Logging.SetHandler((level, message) => Interlocked.Increment(ref count), DownstreamApiLogLevel.Error);
            try
            {
                using (var api = NewClient())
                {
                    api.CallApiForApp("Mtls");
                }
            }
            finally
            {
                Logging.SetHandler(null);
            }
            Assert.Equal(0, count, "nothing at Error level for a successful call");
            Assert.Throws<InvalidArgumentException>(() => Logging.SetHandler((l, m) => { }, (DownstreamApiLogLevel)9));
        }

        private void DescribeCredentials()
        {
            using (var api = NewClient())
            {
                string before = api.DescribeCredentials();
                Assert.True(before.StartsWith("[{"), "a JSON array: " + before);
                Assert.Contains("\"loaded\":true", before);
                Assert.Contains("\"selectedFor\":[]", before);
                api.CallApiForApp("Mtls");
                Assert.Contains("\"selectedFor\":[\"MTLS\"]", api.DescribeCredentials());
            }
        }
    }
}
