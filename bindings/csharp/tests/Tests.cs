using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Text.RegularExpressions;

namespace DownstreamApi.Tests
{
    /// <summary>
    /// The wrapper's tests against the loopback servers (examples/loopback_servers.rs): MTLS APIs
    /// Mtls, Echo, Inspect (answers with a JSON picture of the request; /status/N, /slow/ms and
    /// /big-head on the same server), Renewed (accepts only renewed.pem's certificate) and a Bearer
    /// API behind a fake token endpoint that verifies the client assertion. One file per concept.
    /// </summary>
    internal sealed partial class Tests
    {
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
            // Library facts and the header (LibraryTests.cs)
            add("version is semver", VersionIsSemver);
            add("status names mirror the header", StatusNamesMirrorTheHeader);
            add("enums are exactly the header's constants", EnumsAreTheHeadersConstants);
            add("every status maps to its exception", EveryStatusMapsToItsException);
            add("no public type is named like a framework type", NoNameClashesWithTheFramework);
            add("the csproj targets netstandard2.0 and net8.0 and packs the native library", CsprojPacksTheNativeLibrary);
            // Calls (CallTests.cs)
            add("from file: MTLS call gives an HttpResponseMessage", FromFileCallsMtls);
            add("from JSON: API names ignore case", FromJsonCallsMtls);
            add("POST with StringContent and ByteArrayContent", PostWithContent);
            add("override delegate sees the configured options", OverrideDelegateSeesTheConfiguration);
            add("override delegate: replaced and removed parameters", OverrideDelegateReplacesAndRemoves);
            add("response headers, content headers and RequestMessage", ResponseShape);
            add("synchronous CallApiForApp", SynchronousCall);
            add("typed GET/POST/PUT/PATCH/DELETE with DataContractJsonSerializer", TypedMethods);
            add("typed methods: custom serializer and HttpRequestException", TypedMethodsCustomSerializerAndErrors);
            add("Bearer: call, headers and tokens", BearerCallsAndHeaders);
            add("MTLS_POP: call and header", MtlsPopCallAndHeader);
            add("managed identity: a token from the platform's endpoint (ManagedIdentityTests.cs)", ManagedIdentityCall);
            add("TokenCache.Distributed: configuration only (SharedCacheTests.cs)", SharedTokenCacheConfiguration);
            add("pushed credentials: SetCredential and ReloadCredentials (PushedCredentialTests.cs)", PushedCredentials);
            add("the package page's C# example runs as written", ReadmeExampleRuns);
            add("the README's C# quick start runs as written", QuickStartRuns);
            // Users and agents (UserTests.cs)
            add("users: calls and headers for alice and bob", CallsAndHeadersForUsers);
            add("users: GetForUserAsync and a ClaimsPrincipal's bootstrap token", TypedAndPrincipalCallsForUsers);
            add("validation: a caller's token gives a ClaimsPrincipal (ValidationTests.cs)", ValidatesACallersToken);
            add("validation: an expired token throws DownstreamApiTokenInvalidException", RefusesAnInvalidToken);
            add("users: the MFA user's claims challenge", UserInteractionRequired);
            add("users: a long-running session, its key allocated", LongRunningSessions);
            add("agents: the agent, its user by UPN and by object id", AgentCalls);
            add("users and agents: argument errors", UserArgumentErrors);
            // Async and threads (AsyncTests.cs)
            add("cancelled before the call: nothing is sent", CancelledBeforeTheCall);
            add("cancelled during the call: the task ends at once", CancelledDuringTheCall);
            add("8 threads x 200 async calls on one client", ManyAsyncCallsOnOneClient);
            add("threads share one client", ThreadsShareOneClient);
            add("Dispose while other threads call", DisposeWhileOtherThreadsCall);
            // Certificates and logging (EventTests.cs)
            add("CertificateChanged: Selected then SuccessfullyUsed", CertificateChangedEvents);
            add("CertificateChanged during a rotation", CertificateChangedDuringRotation);
            add("CertificateChanged handler exceptions are swallowed", HandlerExceptionsAreSwallowed);
            add("log handler receives messages", LogHandler);
            add("credentials described as JSON, selection shown after a call", DescribeCredentials);
            add("metrics as JSON: a call counted, the certificate's days left (MetricsTests.cs)", MetricsJson);
            // Errors and lifetime (ErrorTests.cs)
            add("every exception type from a real bad input", EveryExceptionFromARealBadInput);
            add("argument errors", ArgumentErrors);
            add("Dispose twice, use after Dispose", UseAfterDispose);
            add("10,000 create/dispose cycles without handle growth", CreateDisposeCycles);
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

        /// <summary>The configuration with the client certificate's path replaced.</summary>
        private string ConfigWithCertificate(string path)
        {
            string changed = Regex.Replace(configJson, @"(""CertificateDiskPath""\s*:\s*)""[^""]*""", "$1\"" + path.Replace("\\", "\\\\") + "\"");
            Assert.True(changed != configJson, "the certificate path was replaced");
            return changed;
        }

        private static string Text(HttpResponseMessage response)
        {
            return response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        }
    }
}
