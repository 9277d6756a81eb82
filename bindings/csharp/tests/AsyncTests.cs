using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace DownstreamApi.Tests
{
    internal sealed partial class Tests
    {
        private void CancelledBeforeTheCall()
        {
            int events = 0;
            using (var api = NewClient())
            using (var cancelled = new CancellationTokenSource())
            {
                api.CertificateChanged += (sender, e) => Interlocked.Increment(ref events);
                cancelled.Cancel();
                Assert.ThrowsAsync<OperationCanceledException>(() => api.CallApiForAppAsync("Mtls", null, null, cancelled.Token));
                Assert.ThrowsAsync<OperationCanceledException>(() => api.CallApiForAppAsync("Echo", o => o.HttpMethod = "POST", new StringContent("x"), cancelled.Token));
                Assert.ThrowsAsync<OperationCanceledException>(() => api.GetForAppAsync<Inspected>("Inspect", null, cancelled.Token));
                Assert.ThrowsAsync<OperationCanceledException>(() => api.CreateAuthorizationHeaderAsync("Bearer", null, cancelled.Token));
                Assert.ThrowsAsync<OperationCanceledException>(() => api.CreateAuthorizationHeaderForAppAsync("api://x/.default", null, cancelled.Token));
                Task<HttpResponseMessage> task = api.CallApiForAppAsync("Mtls", null, null, cancelled.Token);
                Assert.True(task.IsCanceled, "the task is cancelled, not faulted");
                // Nothing was sent: no certificate was ever selected or used.
                Assert.Equal(0, events, "credential events");
                Assert.Contains("\"selectedFor\":[]", api.DescribeCredentials());
            }
        }

        private void CancelledDuringTheCall()
        {
            int unobserved = 0;
            EventHandler<UnobservedTaskExceptionEventArgs> count = (sender, e) => Interlocked.Increment(ref unobserved);
            TaskScheduler.UnobservedTaskException += count;
            var api = NewClient();
            using (var cancel = new CancellationTokenSource())
            {
                var clock = Stopwatch.StartNew();
                Task<HttpResponseMessage> slow = api.CallApiForAppAsync("Echo", o => o.RelativePath = "slow/1500", null, cancel.Token);
                Thread.Sleep(200);
                Assert.True(!slow.IsCompleted, "the call is still running");
                cancel.Cancel();
                Assert.ThrowsAsync<OperationCanceledException>(() => slow);
                long cancelledAfter = clock.ElapsedMilliseconds;
                Assert.True(cancelledAfter < 1000, "the task ended at once, after " + cancelledAfter + " ms");
                Assert.True(slow.IsCanceled, "cancelled, not faulted");
                // The native call goes on in the background; disposing meanwhile is safe, and the
                // client keeps serving other calls until then.
                Assert.Equal(HttpStatusCode.OK, api.CallApiForAppAsync("Mtls").Result.StatusCode, "another call meanwhile");
                api.Dispose();
                Thread.Sleep(1500);
            }
            // A call abandoned by cancellation that then fails must not leave an unobserved exception.
            using (var failing = NewClient())
            using (var cancel = new CancellationTokenSource())
            {
                Task<HttpResponseMessage> doomed = failing.CallApiForAppAsync("Echo", o => { o.RelativePath = "slow/600"; o.TimeoutSeconds = 0.3; }, null, cancel.Token);
                Thread.Sleep(50);
                cancel.Cancel();
                Assert.ThrowsAsync<OperationCanceledException>(() => doomed);
                Thread.Sleep(800);
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            TaskScheduler.UnobservedTaskException -= count;
            Assert.Equal(0, unobserved, "unobserved task exceptions");
        }

        private void ManyAsyncCallsOnOneClient()
        {
            int used = 0, selected = 0;
            using (var api = NewClient())
            {
                api.CertificateChanged += (sender, e) =>
                {
                    if (e.Action == CertificateObserverAction.SuccessfullyUsed) Interlocked.Increment(ref used);
                    if (e.Action == CertificateObserverAction.Selected) Interlocked.Increment(ref selected);
                };
                var workers = Enumerable.Range(0, 8).Select(worker => Task.Factory.StartNew(async () =>
                {
                    for (int call = 0; call < 200; call++)
                    {
                        string body = worker + "-" + call;
                        HttpResponseMessage response = await api.CallApiForAppAsync(
                            "Echo", o => o.HttpMethod = "POST", new StringContent(body)).ConfigureAwait(false);
                        string text = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
                        Assert.Equal("POST /echo\n" + body, text, "echo");
                    }
                }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap()).ToArray();
                Assert.True(Task.WaitAll(workers, TimeSpan.FromMinutes(5)), "1600 calls finished");
            }
            Assert.Equal(1600, used, "SuccessfullyUsed events");
            Assert.Equal(1, selected, "Selected events");
        }

        private void ThreadsShareOneClient()
        {
            var failures = new List<string>();
            using (var api = NewClient())
            {
                var threads = Enumerable.Range(0, 8).Select(worker => new Thread(() =>
                {
                    try
                    {
                        for (int round = 0; round < 10; round++)
                        {
                            string body = worker + "-" + round;
                            var response = api.CallApiForApp("Echo", o => o.HttpMethod = "POST", new ByteArrayContent(Encoding.UTF8.GetBytes(body)));
                            Assert.Equal("POST /echo\n" + body, Text(response), "echo");
                        }
                    }
                    catch (Exception error)
                    {
                        lock (failures) { failures.Add(error.Message); }
                    }
                })).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
            }
            Assert.Equal("", string.Join("; ", failures), "failures on the threads");
        }

        private void DisposeWhileOtherThreadsCall()
        {
            var api = NewClient();
            var ready = new CountdownEvent(4);
            var outcomes = new List<string>();
            var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
            {
                ready.Signal();
                try
                {
                    while (true)
                    {
                        api.CallApiForApp("Mtls");
                    }
                }
                catch (ObjectDisposedException)
                {
                    lock (outcomes) { outcomes.Add("disposed"); }
                }
                catch (Exception error)
                {
                    lock (outcomes) { outcomes.Add(error.ToString()); }
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            ready.Wait();
            Thread.Sleep(50);
            api.Dispose();
            threads.ForEach(t => t.Join());
            Assert.Equal("disposed,disposed,disposed,disposed", string.Join(",", outcomes), "outcomes");
        }
    }
}
