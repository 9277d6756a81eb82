using System;
using System.IO;
using System.Net;

namespace DownstreamApi.Tests
{
    internal sealed partial class Tests
    {
        private void PushedCredentials()
        {
            byte[] renewed = File.ReadAllBytes(Path.Combine(Path.GetDirectoryName(configPath), "renewed.pem"));
            using (var api = NewClient())
            {
                Assert.Equal((HttpStatusCode)495, api.CallApiForApp("Renewed").StatusCode, "only the renewed certificate is trusted");
                api.SetCredential(0, renewed);
                Assert.Equal(HttpStatusCode.OK, api.CallApiForApp("Renewed").StatusCode, "the pushed certificate");
                byte[] encrypted = File.ReadAllBytes(Path.Combine(repo, "tests", "fixtures", "rsa-client.encrypted.pem"));
                var ex = Assert.Throws<CredentialUnavailableException>(() =>
                    api.SetCredential(0, encrypted, "wrong-pushed-pass"));
                Assert.Contains("ClientCredentials[0]", ex.Message);
                Assert.Contains("wrong CertificatePassword", ex.Message);
                Assert.True(!ex.Message.Contains("wrong-pushed-pass"), "no password in the message");
                Assert.Equal(HttpStatusCode.OK, api.CallApiForApp("Renewed").StatusCode, "the old credential stayed");
                api.ReloadCredentials();
                Assert.Equal(HttpStatusCode.OK, api.CallApiForApp("Renewed").StatusCode, "after a reload");
            }
        }
    }
}
