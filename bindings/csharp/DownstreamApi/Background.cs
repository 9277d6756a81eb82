using System;
using System.Threading;
using System.Threading.Tasks;

namespace DownstreamApi
{
    /// <summary>
    /// Runs a blocking native call on the thread pool for the async methods. A native call cannot
    /// be interrupted: when the token is cancelled during it, the task completes cancelled at once
    /// and the call finishes in the background, bounded by its timeout (the API's or the call's
    /// TimeoutSeconds, else Http.TimeoutSeconds); its response is then disposed, its exception
    /// observed.
    /// </summary>
    internal static class Background
    {
        internal static Task<T> Run<T>(Func<T> call, CancellationToken cancellationToken) where T : class
        {
            // With the token, a call cancelled while it waits for a pool thread never starts.
            Task<T> running = Task.Run(call, cancellationToken);
            if (!cancellationToken.CanBeCanceled)
            {
                return running;
            }
            var outcome = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            CancellationTokenRegistration registration = cancellationToken.Register(() => outcome.TrySetCanceled(cancellationToken));
            running.ContinueWith(
                done =>
                {
                    registration.Dispose();
                    if (done.IsFaulted)
                    {
                        outcome.TrySetException(done.Exception.InnerExceptions);
                    }
                    else if (done.IsCanceled)
                    {
                        outcome.TrySetCanceled();
                    }
                    else if (!outcome.TrySetResult(done.Result))
                    {
                        var abandoned = done.Result as IDisposable;
                        if (abandoned != null)
                        {
                            abandoned.Dispose();
                        }
                    }
                },
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            return outcome.Task;
        }
    }
}
