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
                string message = LastErrorMessage();
                // The claims challenge is per thread too, and only DSAPI_USER_INTERACTION_REQUIRED has one.
                string claims = status == (uint)Status.UserInteractionRequired ? LastErrorClaims() : null;
                throw ExceptionFor((Status)status, message, claims);
            }
        }

        internal static DownstreamApiException ExceptionFor(Status status, string message)
        {
            return ExceptionFor(status, message, null);
        }

        /// <summary>The exception for <paramref name="status"/>; <paramref name="claims"/> is the
        /// claims challenge of DSAPI_USER_INTERACTION_REQUIRED (null or "" for none).</summary>
        internal static DownstreamApiException ExceptionFor(Status status, string message, string claims)
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
                case Status.UserInteractionRequired:
                    return new DownstreamApiUserInteractionRequiredException(status, name, message, string.IsNullOrEmpty(claims) ? null : claims);
                case Status.TokenInvalid: return new DownstreamApiTokenInvalidException(status, name, message);
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
            return ReadThreadString(NativeMethods.dsapi_last_error_message);
        }

        /// <summary>The calling thread's last claims challenge ("" unless the last failed call
        /// returned DSAPI_USER_INTERACTION_REQUIRED with one).</summary>
        internal static string LastErrorClaims()
        {
            return ReadThreadString(NativeMethods.dsapi_last_error_claims);
        }

        private delegate uint ThreadStringReader(byte[] buf, UIntPtr bufLen, out UIntPtr needed);

        /// <summary>The buffer protocol of dsapi_last_error_message and dsapi_last_error_claims:
        /// ask for the size, then copy.</summary>
        private static string ReadThreadString(ThreadStringReader read)
        {
            UIntPtr needed;
            uint status = read(null, UIntPtr.Zero, out needed);
            // Only this thread changes its message, so a buffer of the announced size fits.
            while (status == (uint)Status.BufferTooSmall)
            {
                var buffer = new byte[Math.Max((long)needed.ToUInt64(), 1)];
                status = read(buffer, new UIntPtr((ulong)buffer.Length), out needed);
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
