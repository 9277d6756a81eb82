using System;
using System.IO;
using System.Net;

namespace DownstreamApi.Tests
{
    internal sealed partial class Tests
    {
        /// <summary>The configuration with a TokenCache.Distributed section added.</summary>
        private string WithSharedCache(string redis, string keyFile)
        {
            string section = "\"TokenCache\": {\"Distributed\": {\"Redis\": \"" + redis +
                "\", \"EncryptionKeyFile\": \"" + keyFile.Replace("\\", "\\\\") + "\"}},";
            int start = configJson.IndexOf('{');
            return configJson.Substring(0, start + 1) + section + configJson.Substring(start + 1);
        }

        private void SharedTokenCacheConfiguration()
        {
            // Nothing new in the wrapper: a Redis that cannot be reached is skipped, a missing key
            // file is a configuration error naming the field.
            string keyFile = Path.Combine(directory, "cache.key");
            var key = new byte[32];
            new Random().NextBytes(key);
            File.WriteAllBytes(keyFile, key);
            using (var api = DownstreamApiClient.FromJson(WithSharedCache("redis://:not-logged@127.0.0.1:9/0", keyFile)))
            {
                Assert.Equal(HttpStatusCode.OK, api.CallApiForAppAsync("Bearer").Result.StatusCode, "Bearer without Redis");
            }
            var ex = Assert.Throws<DownstreamApiConfigurationException>(() =>
                DownstreamApiClient.FromJson(WithSharedCache("redis://127.0.0.1:9/0", Path.Combine(directory, "missing.key"))));
            Assert.Contains("TokenCache.Distributed.EncryptionKeyFile", ex.Message);
        }
    }
}
