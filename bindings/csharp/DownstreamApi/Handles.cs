using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace DownstreamApi
{
    /// <summary>
    /// Owns a <c>dsapi_client *</c>. Passing it to an import adds a reference for the duration of
    /// the call, so <see cref="SafeHandle.Dispose()"/> during a call on another thread frees the
    /// native client only after that call returns.
    /// </summary>
    internal sealed class ClientHandle : SafeHandle
    {
        // Observer delegates handed to the native client: they must stay reachable until
        // dsapi_client_free, which is exactly as long as this handle lives.
        private readonly List<Delegate> keepAlive = new List<Delegate>();

        private ClientHandle() : base(IntPtr.Zero, true)
        {
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        internal void KeepAlive(Delegate callback)
        {
            lock (keepAlive)
            {
                keepAlive.Add(callback);
            }
        }

        protected override bool ReleaseHandle()
        {
            NativeMethods.dsapi_client_free(handle);
            lock (keepAlive)
            {
                keepAlive.Clear();
            }
            return true;
        }
    }

    /// <summary>Owns a <c>dsapi_response *</c>; <see cref="ReleaseHandle"/> calls <c>dsapi_response_free</c>.</summary>
    internal sealed class ResponseHandle : SafeHandle
    {
        private ResponseHandle() : base(IntPtr.Zero, true)
        {
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        protected override bool ReleaseHandle()
        {
            NativeMethods.dsapi_response_free(handle);
            return true;
        }
    }
}
