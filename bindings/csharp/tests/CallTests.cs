using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Runtime.Serialization;
using System.Text;
using System.Threading;

namespace DownstreamApi.Tests
{
    /// <summary>The Inspect API's answer: what the server received.</summary>
    [DataContract]
    internal sealed class Inspected
    {
        [DataMember(Name = "method")] public string Method = null;
        [DataMember(Name = "target")] public string Target = null;
        [DataMember(Name = "headers")] public Dictionary<string, string> Headers = null;
        [DataMember(Name = "body")] public string Body = null;
    }

    /// <summary>A plain class (no attributes) as a typed method's input.</summary>
    public sealed class Order
    {
        public int Id { get; set; }
        public string Item { get; set; }
    }

    internal sealed partial class Tests
    {
        private static Inspected Inspect(HttpResponseMessage response)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode, "Inspect status");
            var body = response.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
            return (Inspected)JsonSerialization.Deserialize(body, typeof(Inspected));
        }

        private void FromFileCallsMtls()
        {
            using (var api = NewClient())
            {
                HttpResponseMessage response = api.CallApiForAppAsync("Mtls").GetAwaiter().GetResult();
                Assert.Equal(HttpStatusCode.OK, response.StatusCode, "status");
                Assert.Equal("hello wrapper-client", Text(response), "body");
                Assert.True(response.Content is ByteArrayContent, "body as ByteArrayContent");
            }
        }

        private void FromJsonCallsMtls()
        {
            using (var api = DownstreamApiClient.FromJson(configJson))
            {
                Assert.Equal("hello wrapper-client", Text(api.CallApiForAppAsync("mtls").Result), "body");
            }
        }

        private void PostWithContent()
        {
            using (var api = NewClient())
            {
                var json = new StringContent("{\"id\":\"é\"}", Encoding.UTF8, "application/json");
                json.Headers.ContentLanguage.Add("fr");
                var seen = Inspect(api.CallApiForAppAsync("Inspect", o => o.HttpMethod = "POST", json).Result);
                Assert.Equal("POST", seen.Method, "method");
                Assert.Equal("{\"id\":\"é\"}", seen.Body, "body");
                Assert.Equal("application/json; charset=utf-8", seen.Headers["content-type"], "the content's Content-Type wins over the configured text/plain");
                Assert.Equal("fr", seen.Headers["content-language"], "other content headers are sent");
                Assert.Equal("11", seen.Headers["content-length"], "Content-Length of the UTF-8 bytes");

                // No delegate: the content's type still applies; without one, the configured type.
                var bytes = new ByteArrayContent(new byte[] { 0x61, 0x00, 0x62 });
                seen = Inspect(api.CallApiForAppAsync("Inspect", null, bytes).Result);
                Assert.Equal("GET", seen.Method, "configured method");
                Assert.Equal("a\u0000b", seen.Body, "binary body");
                Assert.Equal("text/plain", seen.Headers["content-type"], "configured ContentType");
                var typed = new ByteArrayContent(Encoding.ASCII.GetBytes("x=1"));
                typed.Headers.ContentType = new MediaTypeHeaderValue("application/x-www-form-urlencoded");
                seen = Inspect(api.CallApiForAppAsync("Inspect", null, typed).Result);
                Assert.Equal("application/x-www-form-urlencoded", seen.Headers["content-type"], "content type without a delegate");
            }
        }

        private void OverrideDelegateSeesTheConfiguration()
        {
            using (var api = NewClient())
            {
                DownstreamApiOptions given = null;
                var seen = Inspect(api.CallApiForAppAsync("Inspect", options =>
                {
                    given = options.Clone();
                    options.RelativePath += "/42";
                    options.ExtraHeaderParameters["X-Added"] = "added";
                    options.AcceptHeader = "application/xml";
                }).Result);
                Assert.True(given.BaseUrl.StartsWith("https://127.0.0.1:", StringComparison.Ordinal), "BaseUrl " + given.BaseUrl);
                Assert.Equal("inspect", given.RelativePath, "RelativePath");
                Assert.Equal("GET", given.HttpMethod, "HttpMethod");
                Assert.Equal("MTLS", given.ProtocolScheme, "ProtocolScheme");
                Assert.Equal("text/plain", given.ContentType, "ContentType");
                Assert.Equal("application/json", given.AcceptHeader, "AcceptHeader default");
                Assert.Equal(false, given.RequestAppToken, "RequestAppToken");
                Assert.Equal(0, given.Scopes.Count(), "Scopes");
                Assert.Equal("configured", string.Join(",", given.ExtraQueryParameters.Keys), "configured query names");
                Assert.Equal(null, given.ExtraQueryParameters["configured"], "configured query values are withheld");
                Assert.True(given.ExtraHeaderParameters.ContainsKey("x-configured"), "header names ignore case");
                Assert.Equal(false, given.AcquireTokenOptions.ForceRefresh, "AcquireTokenOptions");

                Assert.Equal("/inspect/42?configured=yes", seen.Target, "RelativePath += \"/42\"; the configured query kept");
                Assert.Equal("yes", seen.Headers["x-configured"], "the configured header kept with its value");
                Assert.Equal("added", seen.Headers["x-added"], "an added header");
                Assert.Equal("application/xml", seen.Headers["accept"], "AcceptHeader override");

                Assert.Equal("inspect", api.GetOptions("inspect").RelativePath, "GetOptions");
                seen = Inspect(api.CallApiForApp("Inspect"));
                Assert.Equal("/inspect?configured=yes", seen.Target, "overrides last one call");
            }
        }

        private void OverrideDelegateReplacesAndRemoves()
        {
            using (var api = NewClient())
            {
                var seen = Inspect(api.CallApiForAppAsync("Inspect", options =>
                {
                    options.HttpMethod = "PUT";
                    options.ExtraQueryParameters = new Dictionary<string, string> { { "q", "a b" } };
                    options.ExtraHeaderParameters.Remove("X-CONFIGURED");
                }).Result);
                Assert.Equal("PUT", seen.Method, "method");
                Assert.Equal("/inspect?q=a%20b", seen.Target, "a replaced dictionary drops the configured parameter");
                Assert.True(!seen.Headers.ContainsKey("x-configured"), "a removed header is not sent");
                var configured = api.GetOptions("Inspect");
                Assert.Equal(null, OptionsJson.Overrides(configured, configured.Clone()), "an unchanged copy has no overrides");
                seen = Inspect(api.CallApiForAppAsync("Inspect", options => { options.AcceptHeader = null; }).Result);
                Assert.Equal("*/*", seen.Headers["accept"], "a null AcceptHeader sends none of its own (the HTTP stack's default)");
                int caller = Thread.CurrentThread.ManagedThreadId, ranOn = -1;
                Inspect(api.CallApiForAppAsync("Inspect", o => ranOn = Thread.CurrentThread.ManagedThreadId, new StringContent("x")).Result);
                Assert.Equal(caller, ranOn, "the delegate runs on the caller's thread, before any await");
                Assert.ThrowsAsync<ArgumentException>(() => api.CallApiForAppAsync("Inspect", o => o.HttpMethod = null));
                Assert.ThrowsAsync<ArgumentException>(() => api.CallApiForAppAsync("Inspect", o => o.TimeoutSeconds = double.NaN));
                Assert.Equal("hello wrapper-client", Text(api.CallApiForAppAsync("Inspect", o => o.RelativePath = null).Result), "a null RelativePath is the BaseUrl itself");
                var error = Assert.ThrowsAsync<DownstreamApiConfigurationException>(() => api.CallApiForAppAsync("Inspect", o => o.ProtocolScheme = "Kerberos"));
                Assert.Contains("overrides.ProtocolScheme", error.Message);
            }
        }

        private void ResponseShape()
        {
            using (var api = NewClient())
            {
                HttpResponseMessage echo = api.CallApiForAppAsync("Echo", o => o.ExtraQueryParameters["sig"] = "s3cret").Result;
                Assert.Equal("yes", echo.Headers.GetValues("X-Echo").Single(), "response header on Headers");
                Assert.True(!echo.Headers.Any(h => h.Key == "Content-Length"), "content headers are not on Headers");
                Assert.Equal(10L + "?sig=s3cret".Length, echo.Content.Headers.ContentLength.Value, "Content-Length on Content");
                Assert.Equal("GET", echo.RequestMessage.Method.Method, "RequestMessage method");
                string url = echo.RequestMessage.RequestUri.ToString();
                Assert.True(url.StartsWith(BaseUrl().TrimEnd('/') + "/echo?", StringComparison.Ordinal), "RequestMessage URL " + url);
                Assert.True(!url.Contains("s3cret"), "the query is redacted: " + url);

                HttpResponseMessage inspect = api.CallApiForAppAsync("Inspect").Result;
                Assert.Equal("application/json", inspect.Content.Headers.ContentType.MediaType, "Content-Type on Content");
                HttpResponseMessage missing = api.CallApiForAppAsync("Inspect", o => o.RelativePath = "status/404").Result;
                Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode, "a 404 is a response");
                Assert.True(!missing.IsSuccessStatusCode, "IsSuccessStatusCode");
                Assert.Throws<HttpRequestException>(() => missing.EnsureSuccessStatusCode());
            }
        }

        private void SynchronousCall()
        {
            using (var api = NewClient())
            {
                int caller = Thread.CurrentThread.ManagedThreadId;
                int observed = -1;
                api.CertificateChanged += (sender, e) => observed = Thread.CurrentThread.ManagedThreadId;
                var seen = Inspect(api.CallApiForApp("Inspect", o => o.HttpMethod = "POST", new StringContent("sync")));
                Assert.Equal("POST sync", seen.Method + " " + seen.Body, "synchronous POST");
                Assert.Equal(caller, observed, "the call ran on the caller's thread");
            }
        }

        private void TypedMethods()
        {
            using (var api = NewClient())
            {
                Inspected got = api.GetForAppAsync<Inspected>("Inspect", o => o.RelativePath += "/7").Result;
                Assert.Equal("GET /inspect/7?configured=yes", got.Method + " " + got.Target, "GET");
                var order = new Order { Id = 42, Item = "é" };
                Func<string, Inspected>[] calls =
                {
                    path => api.PostForAppAsync<Order, Inspected>("Inspect", order, o => o.RelativePath = path).Result,
                    path => api.PutForAppAsync<Order, Inspected>("Inspect", order, o => o.RelativePath = path).Result,
                    path => api.PatchForAppAsync<Order, Inspected>("Inspect", order, o => o.RelativePath = path).Result,
                    path => api.DeleteForAppAsync<Order, Inspected>("Inspect", order, o => o.RelativePath = path).Result,
                };
                string[] methods = { "POST", "PUT", "PATCH", "DELETE" };
                for (int i = 0; i < calls.Length; i++)
                {
                    Inspected seen = calls[i]("inspect/typed");
                    Assert.Equal(methods[i], seen.Method, "method");
                    Assert.Equal("{\"Id\":42,\"Item\":\"é\"}", seen.Body, methods[i] + " body");
                    Assert.Equal("application/json; charset=utf-8", seen.Headers["content-type"], methods[i] + " content type");
                }
                Inspected deleted = api.DeleteForAppAsync<Order, Inspected>("Inspect", null).Result;
                Assert.Equal("DELETE", deleted.Method + deleted.Body, "DELETE without input sends no body");
                Inspected posted = api.PostForAppAsync<Order, Inspected>("Inspect", null).Result;
                Assert.Equal("POST", posted.Method + posted.Body, "POST of null sends no body");
                Inspected runtimeType = api.PostForAppAsync<object, Inspected>("Inspect", order).Result;
                Assert.Equal("{\"Id\":42,\"Item\":\"é\"}", runtimeType.Body, "an object-typed input serializes as its runtime type");
                Inspected fixedVerb = api.GetForAppAsync<Inspected>("Inspect", o => o.HttpMethod = "POST").Result;
                Assert.Equal("GET", fixedVerb.Method, "GetForAppAsync always GETs");
                string text = api.GetForAppAsync<string>("Echo").Result;
                Assert.Equal("GET /echo\n", text, "a string output is the body's text");
                Assert.Equal(null, api.GetForAppAsync<Inspected>("Echo", o => o.RelativePath = "status/204").Result, "an empty body is null");
            }
        }

        private void TypedMethodsCustomSerializerAndErrors()
        {
            using (var api = NewClient())
            {
                string answer = api.PostForAppAsync<string, string>("Inspect", "raw text", o =>
                {
                    o.Serializer = input => new StringContent("custom:" + input);
                    o.Deserializer = content => "deserialized " + content.ReadAsStringAsync().Result;
                }).Result;
                Assert.True(answer.StartsWith("deserialized {", StringComparison.Ordinal), "the custom deserializer's result: " + answer);
                Assert.Contains("\"body\":\"custom:raw text\"", answer, "it got the whole body");
                var seen = api.PostForAppAsync<string, Inspected>("Inspect", "x", o => o.Serializer = input => new StringContent("custom:" + input)).Result;
                Assert.Equal("custom:x", seen.Body, "custom serializer");
                var error = Assert.ThrowsAsync<HttpRequestException>(() => api.GetForAppAsync<Inspected>("Inspect", o => o.RelativePath = "status/503"));
                Assert.Contains("503", error.Message);
                Assert.Contains("status 503", error.Message, "the start of the body");
            }
        }

        private void BearerCallsAndHeaders()
        {
            using (var api = NewClient())
            {
                HttpResponseMessage response = api.CallApiForAppAsync("Bearer").Result;
                Assert.Equal(HttpStatusCode.OK, response.StatusCode, "status");
                Assert.Contains("api://wrapper-resource/.default", Text(response));

                string header = api.CreateAuthorizationHeaderAsync("Bearer").Result;
                Assert.True(header.StartsWith("Bearer ", StringComparison.Ordinal) && header.Length > 7, "a Bearer header");
                string forApp = api.CreateAuthorizationHeaderForAppAsync("api://wrapper-resource/.default").Result;
                Assert.Equal(header, forApp, "the same cached token for the same scope");
                string refreshed = api.CreateAuthorizationHeaderForAppAsync(
                    "api://wrapper-resource/.default",
                    new AuthorizationHeaderProviderOptions { AcquireTokenOptions = new AcquireTokenOptions { ForceRefresh = true } }).Result;
                Assert.True(refreshed != header, "ForceRefresh gets a new token");
                string fromOverride = api.CreateAuthorizationHeaderAsync("Bearer", o => o.AcquireTokenOptions.ForceRefresh = true).Result;
                Assert.True(fromOverride != refreshed, "ForceRefresh through the delegate");

                AccessToken token = api.AcquireTokenForApp("api://wrapper-resource/.default");
                Assert.True(token.ExpiresOn > DateTimeOffset.UtcNow, "expires in the future, got " + token.ExpiresOn);
                Assert.True(!token.ToString().Contains(token.Token), "ToString hides the token");
                Assert.Equal("Bearer " + token.Token, fromOverride, "AcquireTokenForApp reads the same cache");

                Assert.ThrowsAsync<UnsupportedException>(() => api.CreateAuthorizationHeaderAsync("Mtls"));
                Assert.ThrowsAsync<UnsupportedException>(() => api.CreateAuthorizationHeaderForAppAsync(
                    "api://x/.default", new AuthorizationHeaderProviderOptions { ProtocolScheme = "MTLS" }));
            }
        }

        /// <summary>MTLS_POP: the token is requested over mTLS with the client certificate and
        /// bound to it; the resource accepts it only with that certificate.</summary>
        private void MtlsPopCallAndHeader()
        {
            using (var api = NewClient())
            {
                HttpResponseMessage response = api.CallApiForAppAsync("Pop").Result;
                Assert.Equal(HttpStatusCode.OK, response.StatusCode, "status: " + Text(response));
                Assert.Equal("mtls_pop api://wrapper-resource/.default", Text(response), "the resource saw a bound token");
                string header = api.CreateAuthorizationHeaderAsync("Pop").Result;
                Assert.True(header.StartsWith("mtls_pop ", StringComparison.Ordinal) && header.Length > 9, "an mtls_pop header");
                Assert.Equal("MTLS_POP", api.GetOptions("Pop").ProtocolScheme, "ProtocolScheme");
            }
        }

        private void ReadmeExampleRuns()
        {
            // The example's appsettings.json: "Orders" answers as Inspect does under any path,
            // "Graph" is the Bearer API.
            string example = Path.Combine(directory, "readme");
            Directory.CreateDirectory(example);
            string inspect = System.Text.RegularExpressions.Regex.Match(configJson, @"""Inspect"":\s*(\{[^}]*\}[^}]*\}[^}]*\})").Groups[1].Value;
            Assert.True(inspect.Length > 0, "found the Inspect entry");
            string orders = inspect.Replace("\"RelativePath\": \"inspect\"", "\"RelativePath\": \"inspect/orders\"");
            string bearer = System.Text.RegularExpressions.Regex.Match(configJson, @"""Bearer"":\s*(\{[^}]*\})").Groups[1].Value;
            string settings = configJson.Replace("\"DownstreamApis\": {", "\"DownstreamApis\": {\n    \"Orders\": " + orders + ",\n    \"Graph\": " + bearer + ",");
            File.WriteAllText(Path.Combine(example, "appsettings.json"), settings);
            string previous = Environment.CurrentDirectory;
            TextWriter console = Console.Out;
            var output = new StringWriter();
            try
            {
                Environment.CurrentDirectory = example;
                Console.SetOut(output);
                ReadmeExample.RunAsync(CancellationToken.None).GetAwaiter().GetResult();
            }
            finally
            {
                Console.SetOut(console);
                Environment.CurrentDirectory = previous;
            }
            string printed = output.ToString();
            Assert.True(printed.Contains("Selected ") && printed.Contains("wrapper-client"), "the event handler ran: " + printed);
            Assert.Contains("200 application/json", printed, "the POST's status and content type");
            Assert.Contains("GET https://127.0.0.1:", printed, "the synchronous call's RequestMessage");
        }

        private void QuickStartRuns()
        {
            // The README's appsettings.json names "Orders": here the Inspect API under another name.
            string example = Path.Combine(directory, "quick-start");
            Directory.CreateDirectory(example);
            string inspect = System.Text.RegularExpressions.Regex.Match(configJson, @"""Inspect"":\s*(\{[^}]*\}[^}]*\}[^}]*\})").Groups[1].Value;
            Assert.True(inspect.Length > 0, "found the Inspect entry");
            string settings = configJson.Replace("\"DownstreamApis\": {", "\"DownstreamApis\": {\n    \"Orders\": " + inspect + ",");
            File.WriteAllText(Path.Combine(example, "appsettings.json"), settings);
            string previous = Environment.CurrentDirectory;
            TextWriter console = Console.Out;
            var output = new StringWriter();
            try
            {
                Environment.CurrentDirectory = example;
                Console.SetOut(output);
                QuickStart.RunAsync().GetAwaiter().GetResult();
            }
            finally
            {
                Console.SetOut(console);
                Environment.CurrentDirectory = previous;
            }
            Assert.True(output.ToString().StartsWith("200 "), "the status and the body: " + output);
        }
    }
}
