using System;

namespace DownstreamApi
{
    /// <summary>Turns a native status into an exception carrying the calling thread's last error.</summary>
    internal static class Ensure
    {
        /// <summary>Throws unless <paramref name="status"/> is DSAPI_OK. Call it right after the
        /// import, on the same thread: the last error message is per thread.</summary>
        internal static void Success(uint status)
        {
            if (status != (uint)Status.Ok)
            {
                throw ExceptionFor((Status)status, LastErrorMessage());
            }
        }

        internal static DownstreamApiException ExceptionFor(Status status, string message)
        {
            string name = StatusName(status);
            switch (status)
            {
                case Status.InvalidArgument: return new InvalidArgumentException(status, name, message);
                case Status.ConfigInvalid: return new DownstreamApiConfigurationException(status, name, message);
                case Status.IoError: return new DownstreamApiIOException(status, name, message);
                case Status.UnknownApi: return new UnknownApiException(status, name, message);
                case Status.CredentialUnavailable: return new CredentialUnavailableException(status, name, message);
                case Status.CertificateRejected: return new CertificateRejectedException(status, name, message);
                case Status.TlsError: return new DownstreamApiTlsException(status, name, message);
                case Status.NetworkError: return new NetworkException(status, name, message);
                case Status.Timeout: return new DownstreamApiTimeoutException(status, name, message);
                case Status.InsecureUrl: return new InsecureUrlException(status, name, message);
                case Status.ProtocolError: return new DownstreamApiProtocolException(status, name, message);
                case Status.Unsupported: return new UnsupportedException(status, name, message);
                case Status.NotFound: return new NotFoundException(status, name, message);
                case Status.BufferTooSmall: return new BufferTooSmallException(status, name, message);
                case Status.Panic: return new NativePanicException(status, name, message);
                case Status.TokenAcquisitionFailed: return new TokenAcquisitionException(status, name, message);
                default: return new DownstreamApiException(status, name, message);
            }
        }

        internal static string StatusName(Status status)
        {
            return Utf8.FromNative(NativeMethods.dsapi_status_str((uint)status));
        }

        /// <summary>The calling thread's last error message ("" after a successful call).</summary>
        internal static string LastErrorMessage()
        {
            UIntPtr needed;
            uint status = NativeMethods.dsapi_last_error_message(null, UIntPtr.Zero, out needed);
            // Only this thread changes its message, so a buffer of the announced size fits.
            while (status == (uint)Status.BufferTooSmall)
            {
                var buffer = new byte[Math.Max((long)needed.ToUInt64(), 1)];
                status = NativeMethods.dsapi_last_error_message(buffer, new UIntPtr((ulong)buffer.Length), out needed);
                if (status == (uint)Status.Ok)
                {
                    int length = Array.IndexOf(buffer, (byte)0);
                    return System.Text.Encoding.UTF8.GetString(buffer, 0, length < 0 ? buffer.Length : length);
                }
            }
            return "";
        }
    }
}
