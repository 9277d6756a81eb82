// C# benchmark for tests/bench/run.sh (not a test): keep-alive MTLS GETs to the same nginx through
// DownstreamApiClient.CallApiForAppAsync and through Mono's HttpClient with the same client
// certificate (HttpClientHandler.ClientCertificates), in one run.
//
//   mono csharp_bench.exe APPSETTINGS BASE_URL CLIENT_PFX PFX_PASSWORD SERVER_PEM CALLS CONCURRENCY
//
// 1. CALLS sequential awaited GETs: CallApiForAppAsync("CsharpBench") (no override), the same with
//    an override delegate, and HttpClient.GetAsync when Mono's HttpClientHandler presents the client
//    certificate (a probe request says whether it does), else only the probe's answer.
// 2. HttpWebRequest with ClientCertificates, Mono's other HTTP stack: CALLS sequential GETs.
// 3. CALLS GETs by CONCURRENCY tasks at once: CallApiForAppAsync and HttpWebRequest.
// Each client makes one warm-up request first; every timed response must be a 200. Prints
// key=value lines that run.sh reads.
// HttpClient verifies the server by pinning its certificate (SERVER_PEM): Mono's X509Chain ignores
// ChainPolicy.ExtraStore, so a private CA cannot be trusted there without adding it to Mono's
// store.
using System;
using System.Diagnostics;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Tasks;
using DownstreamApi;

internal static class CsharpBench
{
    private static int Main(string[] args)
    {
        string settings = args[0], baseUrl = args[1], pfx = args[2], password = args[3], serverPem = args[4];
        int calls = int.Parse(args[5]), concurrency = int.Parse(args[6]);
        using (var api = DownstreamApiClient.FromFile(settings))
        {
            Func<Task<HttpStatusCode>> plain = async () => (await api.CallApiForAppAsync("CsharpBench").ConfigureAwait(false)).StatusCode;
            Func<Task<HttpStatusCode>> edited = async () =>
                (await api.CallApiForAppAsync("CsharpBench", o => o.RelativePath = "bench/cs-delegate").ConfigureAwait(false)).StatusCode;
            Print("dsapi_rps", Sequential(calls, plain));
            Print("dsapi_delegate_rps", Sequential(calls, edited));
            Print("dsapi_concurrent_rps", Concurrent(calls, concurrency, async () =>
                (await api.CallApiForAppAsync("CsharpBenchConcurrent").ConfigureAwait(false)).StatusCode));
        }

        var pinned = new X509Certificate2(serverPem);
        var certificate = new X509Certificate2(pfx, password);
        // Exactly the bench's server certificate, with a matching name.
        Func<X509Certificate, SslPolicyErrors, bool> verify = (presented, errors) =>
            (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
            && presented != null && new X509Certificate2(presented).Thumbprint == pinned.Thumbprint;

        // The reference the issue names: HttpClient with HttpClientHandler.ClientCertificates.
        var handler = new HttpClientHandler { ClientCertificateOptions = ClientCertificateOption.Manual };
        handler.ClientCertificates.Add(certificate);
        handler.ServerCertificateCustomValidationCallback = (message, presented, chain, errors) => verify(presented, errors);
        using (var http = new HttpClient(handler))
        {
            try
            {
                var probe = http.GetAsync(baseUrl + "/bench/cs-httpclient").GetAwaiter().GetResult();
                Console.WriteLine("httpclient_probe=HTTP " + (int)probe.StatusCode +
                    ((int)probe.StatusCode == 400 ? " (nginx: no client certificate was presented)" : ""));
                if (probe.StatusCode == HttpStatusCode.OK)
                {
                    Print("httpclient_rps", Sequential(calls, async () => Drain(await http.GetAsync(baseUrl + "/bench/cs-httpclient").ConfigureAwait(false))));
                }
            }
            catch (Exception error)
            {
                Console.WriteLine("httpclient_probe=" + error.GetBaseException().GetType().Name + ": " + error.GetBaseException().Message);
            }
        }

        // Mono's own HTTP stack, which does present the certificate: HttpWebRequest, kept alive
        // by its ServicePoint.
        ServicePointManager.DefaultConnectionLimit = concurrency;
        Func<string, Task<HttpStatusCode>> webRequest = async path =>
        {
            var request = (HttpWebRequest)WebRequest.Create(baseUrl + path);
            request.ClientCertificates.Add(certificate);
            request.ServerCertificateValidationCallback = (sender, presented, chain, errors) => verify(presented, errors);
            using (var response = (HttpWebResponse)await request.GetResponseAsync().ConfigureAwait(false))
            using (var body = response.GetResponseStream())
            {
                await body.CopyToAsync(System.IO.Stream.Null).ConfigureAwait(false);
                return response.StatusCode;
            }
        };
        Print("webrequest_rps", Sequential(calls, () => webRequest("/bench/cs-webrequest")));
        Print("webrequest_concurrent_rps", Concurrent(calls, concurrency, () => webRequest("/bench/cs-webrequest-concurrent")));
        Console.WriteLine("mono_version=" + Type.GetType("Mono.Runtime").GetMethod("GetDisplayName",
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static).Invoke(null, null));
        return 0;
    }

    private static HttpStatusCode Drain(HttpResponseMessage response)
    {
        using (response)
        {
            response.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
            return response.StatusCode;
        }
    }

    private static double Sequential(int calls, Func<Task<HttpStatusCode>> call)
    {
        Check(call().GetAwaiter().GetResult());
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < calls; i++)
        {
            Check(call().GetAwaiter().GetResult());
        }
        return calls / clock.Elapsed.TotalSeconds;
    }

    private static double Concurrent(int calls, int concurrency, Func<Task<HttpStatusCode>> call)
    {
        Check(call().GetAwaiter().GetResult());
        int next = 0;
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (System.Threading.Interlocked.Increment(ref next) <= calls)
            {
                Check(await call().ConfigureAwait(false));
            }
        })).ToArray();
        Task.WaitAll(workers);
        return calls / clock.Elapsed.TotalSeconds;
    }

    private static void Check(HttpStatusCode status)
    {
        if (status != HttpStatusCode.OK)
        {
            throw new InvalidOperationException("HTTP " + (int)status);
        }
    }

    private static void Print(string key, double value)
    {
        Console.WriteLine(key + "=" + value.ToString("F0", System.Globalization.CultureInfo.InvariantCulture));
    }
}
