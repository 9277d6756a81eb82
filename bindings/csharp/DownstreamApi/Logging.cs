using System;
using System.Collections.Generic;

namespace DownstreamApi
{
    /// <summary>The library's process-wide log output.</summary>
    public static class Logging
    {
        private static readonly object Gate = new object();
        // Every delegate ever installed: the library may still be running a replaced callback on
        // another thread, so none may be collected (each is one small object).
        private static readonly List<Delegate> Installed = new List<Delegate>();
        private static Action<DownstreamApiLogLevel, string> current;

        /// <summary>
        /// Sends the library's log messages up to <paramref name="maxLevel"/> to
        /// <paramref name="handler"/>, replacing any previous handler; null stops logging. The handler
        /// runs on whichever thread logs, several at once: it must be thread-safe. Exceptions it throws
        /// are swallowed. Messages never contain secrets.
        /// </summary>
        public static void SetHandler(Action<DownstreamApiLogLevel, string> handler, DownstreamApiLogLevel maxLevel = DownstreamApiLogLevel.Info)
        {
            lock (Gate)
            {
                if (handler == null)
                {
                    Ensure.Success(NativeMethods.dsapi_set_log_callback(null, IntPtr.Zero, (uint)maxLevel));
                    current = null;
                    return;
                }
                NativeLogCallback callback = (userData, level, message) => Deliver(handler, level, message);
                Installed.Add(callback);
                Ensure.Success(NativeMethods.dsapi_set_log_callback(callback, IntPtr.Zero, (uint)maxLevel));
                current = handler;
            }
        }

        private static void Deliver(Action<DownstreamApiLogLevel, string> handler, uint level, IntPtr message)
        {
            try
            {
                handler((DownstreamApiLogLevel)level, Utf8.FromNative(message) ?? "");
            }
            catch (Exception)
            {
                // Never let an exception unwind into native code.
            }
        }

        /// <summary>Reports an exception thrown by user code in a callback to the log handler, if any.</summary>
        internal static void ReportCallbackFailure(string where, Exception error)
        {
            var handler = current;
            if (handler == null)
            {
                return;
            }
            try
            {
                handler(DownstreamApiLogLevel.Error, where + " threw " + error.GetType().Name + ": " + error.Message);
            }
            catch (Exception)
            {
            }
        }
    }
}
