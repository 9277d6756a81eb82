using System;
using System.Linq;
using System.Net.Http;
using System.Security.Claims;

namespace DownstreamApi.Tests
{
    internal sealed partial class Tests
    {
        /// <summary>The loopback servers' users' tokens are for the configuration's own app: it
        /// validates them, and the principal calls on its user's behalf.</summary>
        private void ValidatesACallersToken()
        {
            using (var api = NewClient())
            {
                string alice = UserToken("alice");
                ClaimsPrincipal principal = api.ValidateToken(alice);
                Assert.Equal("alice-oid", principal.FindFirst("oid").Value, "oid claim");
                Assert.Equal("wrapper-app", principal.FindFirst("aud").Value, "aud claim");
                Assert.Equal("access_as_user", principal.FindFirst("scp").Value, "scp claim");
                Assert.Equal(ClaimValueTypes.Integer64, principal.FindFirst("exp").ValueType, "exp is a number");
                Assert.Equal("https://fake-entra.invalid/wrapper-tenant/v2.0", principal.FindFirst("oid").Issuer, "claims issued by iss");
                Assert.True(principal.Identity.IsAuthenticated, "authenticated");
                Assert.Equal("alice@wrapper.example", principal.Identity.Name, "name claim");
                Assert.Equal("pwd", string.Join(",", principal.FindAll("amr").Select(c => c.Value)), "an array gives one claim per element");
                var identity = (ClaimsIdentity)principal.Identity;
                Assert.Equal(alice, (string)identity.BootstrapContext, "the token is the bootstrap context");
                HttpResponseMessage response = api.CallApiForUserAsync("Users", null, principal).Result;
                Assert.Equal("user alice-oid " + UsersScope, Text(response), "a call for the validated user");

                string json = api.ValidateTokenJson(UserToken("bob"));
                Assert.Contains("\"oid\":\"bob-oid\"", json, "claims JSON");
                Assert.Equal("bob-oid", api.ValidateTokenAsync(UserToken("bob")).Result.FindFirst("oid").Value, "async");
            }
        }

        private void RefusesAnInvalidToken()
        {
            using (var api = NewClient())
            {
                string expired = ServerFile("user-token-expired.txt");
                var refused = Assert.Throws<DownstreamApiTokenInvalidException>(() => api.ValidateToken(expired));
                Assert.Equal(Status.TokenInvalid, refused.Status, "status");
                Assert.Equal("DSAPI_TOKEN_INVALID", refused.StatusName, "status name");
                Assert.Contains("expired at", refused.Message, "why");
                Assert.True(!refused.Message.Contains(expired.Split('.')[1]), "the token is not in the message");
                Assert.Throws<DownstreamApiTokenInvalidException>(() => api.ValidateTokenJson("not-a-token"));
                Assert.Throws<ArgumentNullException>(() => api.ValidateToken(null));
            }
        }
    }
}
