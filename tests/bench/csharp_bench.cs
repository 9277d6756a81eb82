// C# benchmark for tests/bench/run.sh (not a test): keep-alive MTLS GETs to the same nginx through
// DownstreamApiClient and through Mono's own HTTP stacks with the same client certificate, in one run.
//
//   mono csharp_bench.exe APPSETTINGS BASE_URL CLIENT_PFX PFX_PASSWORD SERVER_PEM CALLS CONCURRENCY ROUNDS
//
// 1. Probe: HttpClient with HttpClientHandler.ClientCertificates (the reference); when
//    Mono's handler presents the certificate it is measured too, else the probe's answer is printed.
// 2. ROUNDS interleaved rounds of: CALLS sequential awaited CallApiForAppAsync("CsharpBench"), the
//    same with an override delegate, CALLS synchronous CallApiForApp, CALLS sequential HttpWebRequest
//    GETs (Mono's stack that presents client certificates), and CALLS GETs by CONCURRENCY tasks at
//    once through CallApiForAppAsync and HttpWebRequest. The best round of each counts (the machine
//    is shared).
// Each client makes one warm-up request first; every timed response must be a 200. Prints key=value
// lines that run.sh reads. HttpClient and HttpWebRequest verify the server by pinning its
// certificate (SERVER_PEM): Mono's X509Chain ignores ChainPolicy.ExtraStore, so a private CA cannot
// be trusted there without adding it to Mono's store.
using System;
using System.Collections.Generic;
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
    private static readonly Dictionary<string, double> Best = new Dictionary<string, double>();

    private static int Main(string[] args)
    {
        string settings = args[0], baseUrl = args[1], pfx = args[2], password = args[3], serverPem = args[4];
        int calls = int.Parse(args[5]), concurrency = int.Parse(args[6]), rounds = int.Parse(args[7]);
        var pinned = new X509Certificate2(serverPem);
        var certificate = new X509Certificate2(pfx, password);
        // Exactly the bench's server certificate, with a matching name.
        Func<X509Certificate, SslPolicyErrors, bool> verify = (presented, errors) =>
            (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) == SslPolicyErrors.None
            && presented != null && new X509Certificate2(presented).Thumbprint == pinned.Thumbprint;

        var handler = new HttpClientHandler { ClientCertificateOptions = ClientCertificateOption.Manual };
        handler.ClientCertificates.Add(certificate);
        handler.ServerCertificateCustomValidationCallback = (message, presented, chain, errors) => verify(presented, errors);
        var http = new HttpClient(handler);
        bool httpClientWorks = false;
        try
        {
            var probe = http.GetAsync(baseUrl + "/bench/cs-httpclient").GetAwaiter().GetResult();
            httpClientWorks = probe.StatusCode == HttpStatusCode.OK;
            Console.WriteLine("httpclient_probe=HTTP " + (int)probe.StatusCode +
                ((int)probe.StatusCode == 400 ? " (nginx: no client certificate was presented)" : ""));
        }
        catch (Exception error)
        {
            Console.WriteLine("httpclient_probe=" + error.GetBaseException().GetType().Name + ": " + error.GetBaseException().Message);
        }

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

        using (var api = DownstreamApiClient.FromFile(settings))
        {
            for (int round = 0; round < rounds; round++)
            {
                Measure("dsapi_rps", Sequential(calls, async () =>
                    (await api.CallApiForAppAsync("CsharpBench").ConfigureAwait(false)).StatusCode));
                Measure("dsapi_delegate_rps", Sequential(calls, async () =>
                    (await api.CallApiForAppAsync("CsharpBench", o => o.RelativePath = "bench/cs-delegate").ConfigureAwait(false)).StatusCode));
                Measure("dsapi_sync_rps", Sequential(calls, () =>
                    Task.FromResult(api.CallApiForApp("CsharpBench", o => o.RelativePath = "bench/cs-sync").StatusCode)));
                Measure("webrequest_rps", Sequential(calls, () => webRequest("/bench/cs-webrequest")));
                if (httpClientWorks)
                {
                    Measure("httpclient_rps", Sequential(calls, async () => Drain(await http.GetAsync(baseUrl + "/bench/cs-httpclient").ConfigureAwait(false))));
                }
                Measure("dsapi_concurrent_rps", Concurrent(calls, concurrency, async () =>
                    (await api.CallApiForAppAsync("CsharpBenchConcurrent").ConfigureAwait(false)).StatusCode));
                Measure("webrequest_concurrent_rps", Concurrent(calls, concurrency, () => webRequest("/bench/cs-webrequest-concurrent")));
            }
        }
        foreach (var pair in Best)
        {
            Console.WriteLine(pair.Key + "=" + pair.Value.ToString("F0", System.Globalization.CultureInfo.InvariantCulture));
        }
        Console.WriteLine("mono_version=" + Type.GetType("Mono.Runtime").GetMethod("GetDisplayName",
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static).Invoke(null, null));
        return 0;
    }

    private static void Measure(string key, double requestsPerSecond)
    {
        double best;
        if (!Best.TryGetValue(key, out best) || requestsPerSecond > best)
        {
            Best[key] = requestsPerSecond;
        }
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
}
