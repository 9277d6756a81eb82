using System;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Runtime.Serialization;
using System.Runtime.Serialization.Json;
using System.Security.Claims;
using System.Text;

namespace DownstreamApi.Tests
{
    internal sealed partial class Tests
    {
        private const string UsersScope = "api://wrapper-users/.default";

        [DataContract]
        private sealed class Agents
        {
            [DataMember(Name = "agent")] public string Agent = null;
            [DataMember(Name = "agent_user_upn")] public string AgentUserUpn = null;
            [DataMember(Name = "agent_user_oid")] public string AgentUserOid = null;
            [DataMember(Name = "mfa_claims")] public string MfaClaims = null;
        }

        /// <summary>What the loopback servers wrote beside appsettings.json for these tests.</summary>
        private string ServerFile(string name)
        {
            return File.ReadAllText(Path.Combine(Path.GetDirectoryName(configPath), name)).Trim();
        }

        private string UserToken(string name)
        {
            return ServerFile("user-token-" + name + ".txt");
        }

        private Agents ReadAgents()
        {
            using (var stream = new MemoryStream(Encoding.UTF8.GetBytes(ServerFile("agents.json"))))
            {
                return (Agents)new DataContractJsonSerializer(typeof(Agents)).ReadObject(stream);
            }
        }

        /// <summary>The claims of the JWT in "Bearer &lt;jwt&gt;", as JSON text.</summary>
        private static string JwtClaims(string header)
        {
            Assert.True(header.StartsWith("Bearer ", StringComparison.Ordinal), "a Bearer header");
            string payload = header.Substring("Bearer ".Length).Split('.')[1].Replace('-', '+').Replace('_', '/');
            payload = payload.PadRight(payload.Length + (4 - payload.Length % 4) % 4, '=');
            return Encoding.UTF8.GetString(Convert.FromBase64String(payload));
        }

        private void CallsAndHeadersForUsers()
        {
            using (var api = NewClient())
            {
                foreach (var name in new[] { "alice", "bob" })
                {
                    string token = UserToken(name);
                    HttpResponseMessage response = api.CallApiForUserAsync("Users", null, token).Result;
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode, "status: " + Text(response));
                    Assert.Equal("user " + name + "-oid " + UsersScope, Text(response), name + "'s call");

                    HttpResponseMessage sync = api.CallApiForUser("users", userToken: token);
                    Assert.Equal("user " + name + "-oid " + UsersScope, Text(sync), name + "'s synchronous call");

                    string header = api.CreateAuthorizationHeaderForUserAsync("Users", userToken: token).Result;
                    Assert.Contains("\"oid\":\"" + name + "-oid\"", JwtClaims(header), name + "'s header");
                }
                // The app's own token for the same API is not a user's.
                HttpResponseMessage app = api.CallApiForAppAsync("Users").Result;
                Assert.True(!Text(app).StartsWith("user ", StringComparison.Ordinal), "the app's call is not a user's: " + Text(app));
            }
        }

        private void TypedAndPrincipalCallsForUsers()
        {
            using (var api = NewClient())
            {
                string alice = UserToken("alice");
                // The answer is text, not JSON: a deserializer of one's own, as for GetForAppAsync.
                string answer = api.GetForUserAsync<string>("Users", o => o.Deserializer = c => c.ReadAsStringAsync().Result, alice).Result;
                Assert.Equal("user alice-oid " + UsersScope, answer, "GetForUserAsync");

                var principal = new ClaimsPrincipal(new ClaimsIdentity(new[] { new Claim("oid", "bob-oid") }, "Bearer") { BootstrapContext = UserToken("bob") });
                HttpResponseMessage response = api.CallApiForUserAsync("Users", null, principal).Result;
                Assert.Equal("user bob-oid " + UsersScope, Text(response), "ClaimsPrincipal's bootstrap token");
                string header = api.CreateAuthorizationHeaderForUserAsync("Users", null, principal).Result;
                Assert.Contains("\"oid\":\"bob-oid\"", JwtClaims(header), "header from a ClaimsPrincipal");

                var bare = new ClaimsPrincipal(new ClaimsIdentity(new[] { new Claim("oid", "bob-oid") }, "Bearer"));
                var ex = Assert.ThrowsAsync<ArgumentException>(() => api.CallApiForUserAsync("Users", null, bare));
                Assert.Contains("bootstrap", ex.Message, "no bootstrap token");
            }
        }

        private void UserInteractionRequired()
        {
            string claims = ReadAgents().MfaClaims;
            Assert.True(!string.IsNullOrEmpty(claims), "agents.json has mfa_claims");
            using (var api = NewClient())
            {
                string mfa = UserToken("mfa");
                var async = Assert.ThrowsAsync<DownstreamApiUserInteractionRequiredException>(() => api.CallApiForUserAsync("Users", null, mfa));
                Assert.Equal(claims, async.Claims, "claims of the async call");
                Assert.Equal(Status.UserInteractionRequired, async.Status, "status");
                Assert.Equal("DSAPI_USER_INTERACTION_REQUIRED", async.StatusName, "status name");

                var sync = Assert.Throws<DownstreamApiUserInteractionRequiredException>(() => api.CallApiForUser("Users", null, mfa));
                Assert.Equal(claims, sync.Claims, "claims of the synchronous call");

                var header = Assert.ThrowsAsync<DownstreamApiUserInteractionRequiredException>(() => api.CreateAuthorizationHeaderForUserAsync("Users", null, mfa));
                Assert.Equal(claims, header.Claims, "claims of the header");

                // Another user on the same thread afterwards: no stale challenge, and the next failure
                // of another kind carries none.
                Assert.Equal("user alice-oid " + UsersScope, Text(api.CallApiForUser("Users", null, UserToken("alice"))), "alice after the challenge");
                var unknown = Assert.Throws<UnknownApiException>(() => api.CallApiForUser("Nobody", null, UserToken("alice")));
                Assert.Equal(Status.UnknownApi, unknown.Status, "another failure");
            }
            Assert.Equal(null, ((DownstreamApiUserInteractionRequiredException)Ensure.ExceptionFor(Status.UserInteractionRequired, "why")).Claims,
                "no claims without a challenge");
        }

        private void LongRunningSessions()
        {
            using (var api = NewClient())
            {
                string expected = "user bob-oid " + UsersScope;
                DownstreamApiOptions kept = null;
                HttpResponseMessage started = api.CallApiForUserAsync("Users", o =>
                {
                    o.AcquireTokenOptions.LongRunningWebApiSessionKey = AcquireTokenOptions.LongRunningWebApiSessionKeyAuto;
                    kept = o;
                }, UserToken("bob")).Result;
                Assert.Equal(expected, Text(started), "the session's first call");
                // As in Id.Web, the options the delegate edited now hold the allocated key.
                string key = kept.AcquireTokenOptions.LongRunningWebApiSessionKey;
                Assert.True(key.Length == 43 && key.IndexOfAny(new[] { '+', '/', '=' }) < 0, "a base64url SHA-256: " + key);

                // Later (a background job): the key alone, no user token.
                Assert.Equal(expected, Text(api.CallApiForUserAsync("Users", o => o.AcquireTokenOptions.LongRunningWebApiSessionKey = key).Result),
                    "the session by its key");
                Assert.Equal(expected, Text(api.CallApiForUser("Users", o =>
                {
                    o.AcquireTokenOptions.LongRunningWebApiSessionKey = key;
                    o.AcquireTokenOptions.ForceRefresh = true;
                })), "renewed with the session's refresh token");
                var unknown = Assert.ThrowsAsync<DownstreamApiUserInteractionRequiredException>(
                    () => api.CallApiForUserAsync("Users", o => o.AcquireTokenOptions.LongRunningWebApiSessionKey = "no-such-job"));
                Assert.Contains("LongRunningWebApiSessionKey", unknown.Message, "the unknown session's field is named");
            }
        }

        private void AgentCalls()
        {
            Agents agents = ReadAgents();
            using (var api = NewClient())
            {
                HttpResponseMessage agent = api.CallApiForAppAsync("Users", o => o.WithAgentIdentity(agents.Agent)).Result;
                Assert.Equal("agent " + agents.Agent + " " + UsersScope, Text(agent), "the agent's own token");
                Assert.Contains("\"azp\":\"" + agents.Agent + "\"",
                    JwtClaims(api.CreateAuthorizationHeaderAsync("Users", o => o.WithAgentIdentity(agents.Agent)).Result), "the agent's header");

                string expected = "agent-user " + agents.Agent + " " + agents.AgentUserOid + " " + agents.AgentUserUpn + " " + UsersScope;
                // By UPN, as in Id.Web: a call for a user, the user being the agent's (no incoming token).
                HttpResponseMessage byUpn = api.CallApiForUserAsync("Users", o => o.WithAgentUserIdentity(agents.Agent, agents.AgentUserUpn)).Result;
                Assert.Equal(expected, Text(byUpn), "the agent user's token by UPN");
                Assert.Equal(expected, Text(api.CallApiForApp("Users", o => o.WithAgentUserIdentity(agents.Agent, agents.AgentUserUpn))),
                    "by UPN through CallApiForApp");

                // By object id: the fake directory's id is "agent-user-oid", not a GUID, so the
                // Guid overload cannot name it; AgentUserId set directly carries it.
                HttpResponseMessage byOid = api.CallApiForUserAsync("Users", o =>
                {
                    o.WithAgentIdentity(agents.Agent);
                    o.AcquireTokenOptions.AgentUserId = agents.AgentUserOid;
                }).Result;
                Assert.Equal(expected, Text(byOid), "the agent user's token by object id");

                // The Guid overload writes the "D" form; an unknown user is the token endpoint's refusal.
                var guid = new Guid("0000aaaa-1111-2222-3333-444455556666");
                var options = new DownstreamApiOptions();
                options.WithAgentUserIdentity(agents.Agent, agents.AgentUserUpn);
                options.WithAgentUserIdentity(agents.Agent, guid);
                Assert.Equal("0000aaaa-1111-2222-3333-444455556666", options.AcquireTokenOptions.AgentUserId, "Guid as D");
                Assert.Equal(null, options.AcquireTokenOptions.AgentUsername, "the UPN is dropped: never both");
                options.WithAgentIdentity(agents.Agent);
                Assert.True(options.AcquireTokenOptions.AgentUserId == null && options.AcquireTokenOptions.AgentUsername == null, "the agent alone");
                var refused = Assert.ThrowsAsync<DownstreamApiException>(() => api.CallApiForUserAsync("Users", o => o.WithAgentUserIdentity(agents.Agent, guid)));
                Assert.Contains(agents.Agent, refused.Message, "the refusal names the agent");

                // Both set directly: refused before anything is sent.
                Assert.ThrowsAsync<ArgumentException>(() => api.CallApiForUserAsync("Users", o =>
                {
                    o.WithAgentUserIdentity(agents.Agent, agents.AgentUserUpn);
                    o.AcquireTokenOptions.AgentUserId = agents.AgentUserOid;
                }));
            }
        }

        private void UserArgumentErrors()
        {
            using (var api = NewClient())
            {
                Assert.ThrowsAsync<ArgumentNullException>(() => api.CallApiForUserAsync("Users"));
                Assert.ThrowsAsync<ArgumentException>(() => api.CallApiForUserAsync("Users", null, ""));
                Assert.ThrowsAsync<ArgumentException>(() => api.CallApiForUserAsync("Users", null, "  "));
                Assert.Throws<ArgumentNullException>(() => api.CallApiForUser("Users", null, (string)null));
                Assert.Throws<ArgumentException>(() => api.CallApiForUser("Users", null, ""));
                Assert.ThrowsAsync<ArgumentNullException>(() => api.GetForUserAsync<string>("Users"));
                Assert.ThrowsAsync<ArgumentException>(() => api.PostForUserAsync<string, string>("Users", "x", null, ""));
                Assert.ThrowsAsync<ArgumentNullException>(() => api.CreateAuthorizationHeaderForUserAsync("Users"));
                Assert.ThrowsAsync<ArgumentException>(() => api.CreateAuthorizationHeaderForUserAsync("Users", null, ""));
                Assert.ThrowsAsync<ArgumentNullException>(() => api.CallApiForUserAsync("Users", null, (ClaimsPrincipal)null));
                Assert.ThrowsAsync<ArgumentNullException>(() => api.CallApiForUserAsync(null, null, UserToken("alice")));
                Assert.Throws<ArgumentNullException>(() => new DownstreamApiOptions().WithAgentIdentity(null));
                Assert.Throws<ArgumentException>(() => new DownstreamApiOptions().WithAgentIdentity(" "));
                Assert.Throws<ArgumentException>(() => new DownstreamApiOptions().WithAgentUserIdentity("agent", ""));
                Assert.Throws<ArgumentException>(() => new DownstreamApiOptions().WithAgentUserIdentity("agent", Guid.Empty));
                // An agent's user without the agent: refused before anything is sent.
                Assert.ThrowsAsync<ArgumentException>(() => api.CallApiForUserAsync("Users", o => o.AcquireTokenOptions.AgentUsername = "x@y"));
                // A user token on an MTLS API: the library's configuration error.
                var mtls = Assert.ThrowsAsync<DownstreamApiConfigurationException>(() => api.CallApiForUserAsync("Mtls", null, UserToken("alice")));
                Assert.True(mtls.Message.Length > 0, "a message");
            }
        }
    }
}
