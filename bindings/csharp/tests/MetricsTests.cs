using System.Text.RegularExpressions;

namespace DownstreamApi.Tests
{
    internal sealed partial class Tests
    {
        /// <summary>The counters are the process's: only this test's call is compared.</summary>
        private void MetricsJson()
        {
            using (var api = NewClient())
            {
                string before = api.GetMetricsJson();
                Assert.True(before.StartsWith("{\"calls\":"), "a JSON object: " + before);
                Assert.Contains("\"certificates\":[]", before, "nothing selected yet");
                api.CallApiForApp("Mtls");
                string after = api.GetMetricsJson();
                Assert.Equal(MtlsResponses(before) + 1, MtlsResponses(after), "Mtls calls answered");
                Assert.Contains("\"tlsHandshakes\":{\"full\":", after);
                Assert.Contains("\"remedy\":\"StaleConnection\"", after);
                var certificate = Regex.Match(after, "\"certificates\":\\[\\{\"daysLeft\":([0-9.]+),\"subject\":\"[^\"]*wrapper-client");
                Assert.True(certificate.Success, "the selected certificate: " + after);
                Assert.True(double.Parse(certificate.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, "days left");
            }
        }

        private static long MtlsResponses(string metrics)
        {
            var call = Regex.Match(metrics, "\\{\"api\":\"Mtls\",\"count\":([0-9]+),\"outcome\":\"response\",\"protocol\":\"MTLS\"\\}");
            return call.Success ? long.Parse(call.Groups[1].Value) : 0;
        }
    }
}
