using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Http;
using System.Text.RegularExpressions;

namespace DownstreamApi.Tests
{
    internal sealed partial class Tests
    {
        /// <summary>The variables the loopback servers' fake App Service endpoint is selected by.</summary>
        private Dictionary<string, string> ManagedIdentityEnvironment()
        {
            string file = Path.Combine(Path.GetDirectoryName(configPath), "managed-identity-environment.json");
            var variables = new Dictionary<string, string>();
            foreach (Match match in Regex.Matches(File.ReadAllText(file), @"""([A-Z_]+)"":""([^""]*)"""))
            {
                variables[match.Groups[1].Value] = match.Groups[2].Value;
            }
            Assert.True(variables.ContainsKey("IDENTITY_ENDPOINT") && variables.ContainsKey("IDENTITY_HEADER"),
                "App Service's variables");
            return variables;
        }

        private void ManagedIdentityCall()
        {
            var variables = ManagedIdentityEnvironment();
            // A client reads the platform's variables when it is created.
            foreach (var pair in variables)
            {
                Environment.SetEnvironmentVariable(pair.Key, pair.Value);
            }
            try
            {
                using (var api = NewClient())
                {
                    HttpResponseMessage response = api.CallApiForAppAsync("Vault").Result;
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode, "status: " + Text(response));
                    Assert.Equal("system api://wrapper-vault", Text(response), "the token came from the managed identity");
                    Assert.Equal(null, api.GetOptions("Vault").AcquireTokenOptions.ManagedIdentity.UserAssignedClientId,
                        "system-assigned as configured");

                    var ex = Assert.Throws<TokenAcquisitionException>(() => api.CallApiForApp("Vault",
                        options => options.AcquireTokenOptions.ManagedIdentity.UserAssignedClientId = "nobody"));
                    Assert.True(ex.Message.Contains("Identity not found"), ex.Message);

                    // ManagedIdentity removed: the app's own token, from the fake Entra endpoint, which
                    // the vault refuses (it accepts the managed identity's tokens only).
                    HttpResponseMessage own = api.CallApiForApp("Vault",
                        options => options.AcquireTokenOptions.ManagedIdentity = null);
                    Assert.Equal(HttpStatusCode.Unauthorized, own.StatusCode, "the app's token: " + Text(own));
                }
            }
            finally
            {
                foreach (var pair in variables)
                {
                    Environment.SetEnvironmentVariable(pair.Key, null);
                }
            }
        }
    }
}
