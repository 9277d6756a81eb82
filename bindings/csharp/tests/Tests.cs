using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;

namespace DownstreamApi.Tests
{
    internal sealed class Tests
    {
        private const string NoAuthorityConfig = @"{
  ""AzureAd"": { ""ClientCredentials"": [ { ""SourceType"": ""Path"", ""CertificateDiskPath"": ""/nonexistent/client.pem"" } ] },
  ""DownstreamApis"": { ""Mtls"": { ""BaseUrl"": ""https://127.0.0.1:9/"", ""ProtocolScheme"": ""MTLS"" } }
}";

        private readonly string configPath;
        private readonly string configJson;
        private readonly string directory;
        private readonly string repo;

        public Tests(string configPath, string directory, string repo)
        {
            this.configPath = configPath;
            this.directory = directory;
            this.repo = repo;
            configJson = File.ReadAllText(configPath);
        }

        public IEnumerable<KeyValuePair<string, Action>> All()
        {
            var tests = new List<KeyValuePair<string, Action>>();
            Action<string, Action> add = (name, body) => tests.Add(new KeyValuePair<string, Action>(name, body));
            add("version is semver", VersionIsSemver);
            add("status names mirror the header", StatusNamesMirrorTheHeader);
            add("enums are exactly the header's constants", EnumsAreTheHeadersConstants);
            add("every status maps to its exception", EveryStatusMapsToItsException);
            add("malformed JSON is a configuration error", MalformedJson);
            add("wrong type names the JSON path", WrongTypeNamesThePath);
            add("missing configuration file", MissingConfigFile);
            add("client from file calls MTLS", FromFileCallsMtls);
            add("client from JSON calls MTLS", FromJsonCallsMtls);
            add("echo with overrides and body", EchoWithOverridesAndBody);
            add("binary and empty bodies", BinaryAndEmptyBodies);
            add("response headers", ResponseHeaders);
            add("observer sees Selected then SuccessfullyUsed", ObserverEvents);
            add("observer exceptions are swallowed", ObserverExceptionsAreSwallowed);
            add("log bridge receives messages", LogBridge);
            add("unknown API name (UTF-8 round trip)", UnknownApi);
            add("bad overrides", BadOverrides);
            add("missing certificate file", MissingCertificate);
            add("http:// BaseUrl override is refused", InsecureUrl);
            add("authorization header of an MTLS API is unsupported", AuthorizationHeaderUnsupported);
            add("credentials described as JSON, selection shown after a call", DescribeCredentials);
            add("acquire token without authority", AcquireTokenWithoutAuthority);
            add("acquire token without scopes", AcquireTokenWithoutScopes);
            add("Bearer call", BearerCall);
            add("Bearer authorization header", BearerAuthorizationHeader);
            add("Bearer acquire token", BearerAcquireToken);
            add("use after Dispose", UseAfterDispose);
            add("threads share one client", ThreadsShareOneClient);
            add("Dispose while other threads call", DisposeWhileOtherThreadsCall);
            return tests;
        }

        private DownstreamApiClient NewClient()
        {
            return DownstreamApiClient.FromFile(configPath);
        }

        private string BaseUrl()
        {
            return Regex.Match(configJson, @"""BaseUrl""\s*:\s*""([^""]+)""").Groups[1].Value;
        }

        private static string Snake(string camel)
        {
            return Regex.Replace(camel, "(?<=[a-z])([A-Z])", "_$1").ToUpperInvariant();
        }

        private void VersionIsSemver()
        {
            string version = DownstreamApiLibrary.Version;
            Assert.True(Regex.IsMatch(version, @"^\d+\.\d+\.\d+([-+].*)?$"), "semver, got " + version);
        }

        private void StatusNamesMirrorTheHeader()
        {
            foreach (Status status in Enum.GetValues(typeof(Status)))
            {
                Assert.Equal("DSAPI_" + Snake(status.ToString()), DownstreamApiLibrary.StatusName(status), "name of " + status);
            }
            Assert.Equal("DSAPI_UNKNOWN_STATUS", DownstreamApiLibrary.StatusName((Status)9999), "unknown status");
        }

        private void EnumsAreTheHeadersConstants()
        {
            string header = File.ReadAllText(Path.Combine(repo, "include", "downstream_api.h"));
            var defines = new SortedDictionary<string, uint>(StringComparer.Ordinal);
            foreach (Match match in Regex.Matches(header, @"^#define (DSAPI_\w+) (\d+)$", RegexOptions.Multiline))
            {
                defines.Add(match.Groups[1].Value, uint.Parse(match.Groups[2].Value));
            }
            var mirrored = new SortedDictionary<string, uint>(StringComparer.Ordinal);
            foreach (Status status in Enum.GetValues(typeof(Status)))
            {
                mirrored.Add("DSAPI_" + Snake(status.ToString()), (uint)status);
            }
            foreach (LogLevel level in Enum.GetValues(typeof(LogLevel)))
            {
                mirrored.Add("DSAPI_LOG_" + Snake(level.ToString()), (uint)level);
            }
            foreach (CredentialEventKind kind in Enum.GetValues(typeof(CredentialEventKind)))
            {
                mirrored.Add("DSAPI_EVENT_" + Snake(kind.ToString()), (uint)kind);
            }
            Assert.True(defines.Count > 20, "the header's #defines were found");
            Assert.Equal(
                string.Join(", ", defines.Select(d => d.Key + "=" + d.Value)),
                string.Join(", ", mirrored.Select(d => d.Key + "=" + d.Value)),
                "constants");
        }

        private void EveryStatusMapsToItsException()
        {
            var seen = new HashSet<Type>();
            foreach (Status status in Enum.GetValues(typeof(Status)))
            {
                if (status == Status.Ok)
                {
                    continue;
                }
                var error = Ensure.ExceptionFor(status, "why");
                Assert.True(error.GetType() != typeof(DownstreamApiException), "a subclass for " + status);
                Assert.True(seen.Add(error.GetType()), "a distinct class for " + status);
                Assert.Equal(status, error.Status, "status");
                Assert.Equal("why", error.Message, "message");
                Assert.Equal(DownstreamApiLibrary.StatusName(status), error.StatusName, "status name");
            }
            Assert.True(Ensure.ExceptionFor(Status.Timeout, "x") is DownstreamApiTimeoutException, "timeout type");
            Assert.True(!typeof(TimeoutException).IsAssignableFrom(typeof(DownstreamApiTimeoutException)), "no System.TimeoutException");
            Assert.Equal(typeof(DownstreamApiException), Ensure.ExceptionFor((Status)1234, "x").GetType(), "unknown status type");
        }

        private void MalformedJson()
        {
            var error = Assert.Throws<ConfigurationException>(() => DownstreamApiClient.FromJson("{not json"));
            Assert.Equal(Status.ConfigInvalid, error.Status, "status");
            Assert.Equal("DSAPI_CONFIG_INVALID", error.StatusName, "status name");
            Assert.Contains("JSON", error.Message);
        }

        private void WrongTypeNamesThePath()
        {
            var error = Assert.Throws<ConfigurationException>(() =>
                DownstreamApiClient.FromJson(@"{""AzureAd"": {""ClientCredentials"": ""not a list""}, ""DownstreamApis"": {}}"));
            Assert.Contains("AzureAd.ClientCredentials", error.Message);
        }

        private void MissingConfigFile()
        {
            string missing = Path.Combine(directory, "missing", "appsettings.json");
            var error = Assert.Throws<DownstreamApiIOException>(() => DownstreamApiClient.FromFile(missing));
            Assert.Equal(Status.IoError, error.Status, "status");
            Assert.Contains(missing, error.Message);
        }

        private void FromFileCallsMtls()
        {
            using (var client = NewClient())
            {
                var response = client.Call("Mtls");
                Assert.Equal(200, response.StatusCode, "status");
                Assert.Equal("hello wrapper-client", response.Text, "body");
                Assert.Equal("hello wrapper-client", Encoding.UTF8.GetString(response.Body), "body bytes");
            }
        }

        private void FromJsonCallsMtls()
        {
            using (var client = DownstreamApiClient.FromJson(configJson))
            {
                Assert.Equal("hello wrapper-client", client.Call("mtls").Text, "body (API names ignore case)");
            }
        }

        private void EchoWithOverridesAndBody()
        {
            using (var client = NewClient())
            {
                var response = client.Call(
                    "Echo",
                    Encoding.UTF8.GetBytes("{\"id\": \"é\"}"),
                    @"{""HttpMethod"": ""POST"", ""RelativePath"": ""echo/items"",
                       ""ExtraQueryParameters"": {""page"": ""2""},
                       ""ExtraHeaderParameters"": {""X-Custom"": ""wrapped""}}");
                Assert.Equal(200, response.StatusCode, "status");
                Assert.Equal("POST /echo/items?page=2\n{\"id\": \"é\"}", response.Text, "echo");
            }
        }

        private void BinaryAndEmptyBodies()
        {
            using (var client = NewClient())
            {
                var binary = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
                var echoed = client.Call("Echo", binary, @"{""HttpMethod"": ""PUT""}").Body;
                var prefix = Encoding.ASCII.GetBytes("PUT /echo\n");
                Assert.True(echoed.SequenceEqual(prefix.Concat(binary)), "binary body echoed");
                Assert.Equal("GET /echo\n", client.Call("Echo", new byte[0]).Text, "empty body");
                Assert.Equal("GET /echo\n", client.Call("Echo").Text, "null body");
            }
        }

        private void ResponseHeaders()
        {
            using (var client = NewClient())
            {
                var response = client.Call("Echo");
                Assert.Equal("yes", response.GetHeader("X-ECHO"), "GetHeader ignores case");
                Assert.Equal(null, response.GetHeader("x-missing"), "missing header");
                Assert.Equal("yes", response.Headers["x-echo"], "Headers");
                Assert.Equal("yes", response.Headers["X-Echo"], "Headers ignore case");
                Assert.True(response.HeaderList.All(h => h.Key == h.Key.ToLowerInvariant()), "lower-case names");
                Assert.True(response.HeaderList.Any(h => h.Key == "x-echo" && h.Value == "yes"), "in HeaderList");
            }
        }

        private void ObserverEvents()
        {
            var events = new List<CredentialEventArgs>();
            using (var client = NewClient())
            {
                client.CredentialEvent += (sender, e) => { lock (events) { events.Add(e); } };
                client.Call("Mtls");
                client.Call("Mtls");
            }
            Assert.Equal(
                "Selected,SuccessfullyUsed,SuccessfullyUsed",
                string.Join(",", events.Select(e => e.Kind.ToString())),
                "kinds");
            var selected = events[0];
            Assert.True(Regex.IsMatch(selected.Thumbprint, "^[0-9A-F]{40}$"), "upper-case SHA-1 thumbprint, got " + selected.Thumbprint);
            Assert.Contains("wrapper-client", selected.Subject, "subject");
            Assert.Contains("ClientCredentials[0]", selected.Source, "source");
            Assert.Equal("MTLS", selected.Protocol, "protocol");
            Assert.True(selected.ApiUrl.StartsWith("https://", StringComparison.Ordinal), "API URL, got " + selected.ApiUrl);
            Assert.Equal(null, selected.Error, "error");
        }

        private void ObserverExceptionsAreSwallowed()
        {
            int seen = 0;
            using (var client = NewClient())
            {
                client.CredentialEvent += (sender, e) => { throw new InvalidOperationException("observer bug"); };
                client.CredentialEvent += (sender, e) => Interlocked.Increment(ref seen);
                Assert.Equal(200, client.Call("Mtls").StatusCode, "status");
            }
            Assert.Equal(2, seen, "events after a throwing handler");
        }

        private void LogBridge()
        {
            var messages = new List<KeyValuePair<LogLevel, string>>();
            Logging.SetHandler((level, message) => { lock (messages) { messages.Add(new KeyValuePair<LogLevel, string>(level, message)); } }, LogLevel.Debug);
            try
            {
                using (var client = NewClient())
                {
                    client.Call("Mtls");
                }
            }
            finally
            {
                Logging.SetHandler(null);
            }
            Assert.True(messages.Count > 0, "messages delivered");
            Assert.True(messages.Any(m => m.Key == LogLevel.Info && m.Value.Contains("selected")), "an Info 'selected' message");

            int count = 0;
            Logging.SetHandler((level, message) => Interlocked.Increment(ref count), LogLevel.Error);
            try
            {
                using (var client = NewClient())
                {
                    client.Call("Mtls");
                }
            }
            finally
            {
                Logging.SetHandler(null);
            }
            Assert.Equal(0, count, "nothing at Error level for a successful call");
            Assert.Throws<InvalidArgumentException>(() => Logging.SetHandler((l, m) => { }, (LogLevel)9));
        }

        private void UnknownApi()
        {
            using (var client = NewClient())
            {
                var error = Assert.Throws<UnknownApiException>(() => client.Call("Échø"));
                Assert.Equal(Status.UnknownApi, error.Status, "status");
                Assert.Contains("Échø", error.Message);
            }
        }

        private void BadOverrides()
        {
            using (var client = NewClient())
            {
                Assert.Throws<ConfigurationException>(() => client.Call("Echo", null, "{not json"));
            }
        }

        private void MissingCertificate()
        {
            string missing = Path.Combine(directory, "missing.pem").Replace("\\", "\\\\");
            string broken = Regex.Replace(configJson, @"(""CertificateDiskPath""\s*:\s*)""[^""]*""", "$1\"" + missing + "\"");
            Assert.True(broken != configJson, "the certificate path was replaced");
            using (var client = DownstreamApiClient.FromJson(broken))
            {
                var error = Assert.Throws<CredentialUnavailableException>(() => client.Call("Mtls"));
                Assert.Equal(Status.CredentialUnavailable, error.Status, "status");
                Assert.Contains("ClientCredentials[0]", error.Message);
                Assert.Contains("missing.pem", error.Message);
            }
        }

        private void InsecureUrl()
        {
            string http = BaseUrl().Replace("https://", "http://");
            using (var client = NewClient())
            {
                var error = Assert.Throws<InsecureUrlException>(() => client.Call("Mtls", null, "{\"BaseUrl\": \"" + http + "\"}"));
                Assert.Equal(Status.InsecureUrl, error.Status, "status");
                Assert.Contains("http://", error.Message);
            }
        }

        private void DescribeCredentials()
        {
            using (var client = NewClient())
            {
                string before = client.DescribeCredentials();
                Assert.True(before.StartsWith("[{"), "a JSON array: " + before);
                Assert.Contains("\"loaded\":true", before);
                Assert.Contains("\"kind\":\"certificate\"", before);
                Assert.Contains("\"selectedFor\":[]", before);
                Assert.Equal(200, client.Call("Mtls").StatusCode, "status");
                Assert.Contains("\"selectedFor\":[\"MTLS\"]", client.DescribeCredentials());
            }
        }

        private void AuthorizationHeaderUnsupported()
        {
            using (var client = NewClient())
            {
                var error = Assert.Throws<UnsupportedException>(() => client.GetAuthorizationHeader("Mtls"));
                Assert.Equal(Status.Unsupported, error.Status, "status");
            }
        }

        private void AcquireTokenWithoutAuthority()
        {
            using (var client = DownstreamApiClient.FromJson(NoAuthorityConfig))
            {
                var error = Assert.Throws<ConfigurationException>(() => client.AcquireToken("api://orders/.default", "{\"ForceRefresh\": true}"));
                Assert.Contains("Authority", error.Message);
            }
        }

        private void AcquireTokenWithoutScopes()
        {
            using (var client = DownstreamApiClient.FromJson(NoAuthorityConfig))
            {
                Assert.Throws<InvalidArgumentException>(() => client.AcquireToken("  "));
                Assert.Throws<ArgumentNullException>(() => client.AcquireToken(null));
            }
        }

        private void BearerCall()
        {
            using (var client = NewClient())
            {
                var response = client.Call("Bearer");
                Assert.Equal(200, response.StatusCode, "status");
                Assert.Contains("api://wrapper-resource/.default", response.Text);
            }
        }

        private void BearerAuthorizationHeader()
        {
            using (var client = NewClient())
            {
                string header = client.GetAuthorizationHeader("Bearer");
                Assert.True(header.StartsWith("Bearer ", StringComparison.Ordinal) && header.Length > 7, "a Bearer header");
            }
        }

        private void BearerAcquireToken()
        {
            using (var client = NewClient())
            {
                var token = client.AcquireToken("api://wrapper-resource/.default");
                Assert.True(!string.IsNullOrEmpty(token.Token), "a token");
                Assert.True(token.ExpiresOn > DateTimeOffset.UtcNow, "expires in the future, got " + token.ExpiresOn);
                Assert.True(!token.ToString().Contains(token.Token), "ToString hides the token");
                Assert.Equal(token.Token, client.AcquireToken("api://wrapper-resource/.default").Token, "cached token");
            }
        }

        private void UseAfterDispose()
        {
            var client = NewClient();
            Assert.Equal(200, client.Call("Mtls").StatusCode, "status before Dispose");
            client.Dispose();
            client.Dispose();
            Assert.Throws<ObjectDisposedException>(() => client.Call("Mtls"));
            Assert.Throws<ObjectDisposedException>(() => client.GetAuthorizationHeader("Mtls"));
            Assert.Throws<ObjectDisposedException>(() => client.AcquireToken("api://x/.default"));
        }

        private void ThreadsShareOneClient()
        {
            int used = 0, selected = 0;
            using (var client = NewClient())
            {
                client.CredentialEvent += (sender, e) =>
                {
                    if (e.Kind == CredentialEventKind.SuccessfullyUsed) Interlocked.Increment(ref used);
                    if (e.Kind == CredentialEventKind.Selected) Interlocked.Increment(ref selected);
                };
                var tasks = Enumerable.Range(0, 8).Select(worker => Task.Factory.StartNew(() =>
                {
                    for (int round = 0; round < 10; round++)
                    {
                        string body = worker + "-" + round;
                        var response = client.Call("Echo", Encoding.UTF8.GetBytes(body), "{\"HttpMethod\": \"POST\"}");
                        Assert.Equal("POST /echo\n" + body, response.Text, "echo");
                    }
                }, TaskCreationOptions.LongRunning)).ToArray();
                Task.WaitAll(tasks);
            }
            Assert.Equal(80, used, "SuccessfullyUsed events");
            Assert.Equal(1, selected, "Selected events");
        }

        private void DisposeWhileOtherThreadsCall()
        {
            var client = NewClient();
            var ready = new CountdownEvent(4);
            var outcomes = new List<string>();
            var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
            {
                ready.Signal();
                try
                {
                    while (true)
                    {
                        client.Call("Mtls");
                    }
                }
                catch (ObjectDisposedException)
                {
                    lock (outcomes) { outcomes.Add("disposed"); }
                }
                catch (Exception error)
                {
                    lock (outcomes) { outcomes.Add(error.ToString()); }
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            ready.Wait();
            Thread.Sleep(50);
            client.Dispose();
            threads.ForEach(t => t.Join());
            Assert.Equal("disposed,disposed,disposed,disposed", string.Join(",", outcomes), "outcomes");
        }
    }
}
