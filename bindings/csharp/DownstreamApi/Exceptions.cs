using System;

namespace DownstreamApi
{
    /// <summary>A native call failed: <see cref="Status"/> is the code and <see cref="Exception.Message"/>
    /// the library's message with the full cause chain (never secrets).</summary>
    public class DownstreamApiException : Exception
    {
        /// <summary>Creates the exception for <paramref name="status"/> (named
        /// <paramref name="statusName"/>) with the library's <paramref name="message"/>.</summary>
        public DownstreamApiException(Status status, string statusName, string message)
            : base(string.IsNullOrEmpty(message) ? statusName : message)
        {
            Status = status;
            StatusName = statusName;
        }

        /// <summary>The native status code.</summary>
        public Status Status { get; private set; }

        /// <summary>The status name, e.g. <c>"DSAPI_CONFIG_INVALID"</c>.</summary>
        public string StatusName { get; private set; }

        /// <summary>The status name, then the message and stack trace.</summary>
        public override string ToString()
        {
            return StatusName + ": " + base.ToString();
        }
    }

    /// <summary>DSAPI_INVALID_ARGUMENT: a NULL, non-UTF-8 or otherwise unusable argument.</summary>
    public class InvalidArgumentException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public InvalidArgumentException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_CONFIG_INVALID: malformed JSON, wrong type or missing value; the message names the JSON path.</summary>
    public class DownstreamApiConfigurationException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public DownstreamApiConfigurationException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_IO_ERROR: the configuration file could not be read (not a System.IO.IOException).</summary>
    public class DownstreamApiIOException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public DownstreamApiIOException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_UNKNOWN_API: the API name is not a key of DownstreamApis.</summary>
    public class UnknownApiException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public UnknownApiException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_CREDENTIAL_UNAVAILABLE: no configured credential could be loaded.</summary>
    public class CredentialUnavailableException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public CredentialUnavailableException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_CERTIFICATE_REJECTED: the server rejected the client certificate, also after a reload and one retry.</summary>
    public class CertificateRejectedException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public CertificateRejectedException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_TLS_ERROR: another TLS failure, e.g. an untrusted server certificate.</summary>
    public class DownstreamApiTlsException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public DownstreamApiTlsException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_NETWORK_ERROR: connection refused or reset, or name resolution failed.</summary>
    public class NetworkException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public NetworkException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_TIMEOUT: the connect or overall timeout elapsed (not a System.TimeoutException).</summary>
    public class DownstreamApiTimeoutException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public DownstreamApiTimeoutException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_INSECURE_URL: a certificate or token would have gone over plain http://.</summary>
    public class InsecureUrlException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public InsecureUrlException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_PROTOCOL_ERROR: the answer was not valid HTTP or was too large.</summary>
    public class DownstreamApiProtocolException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public DownstreamApiProtocolException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_UNSUPPORTED: the configuration asks for something this build does not do.</summary>
    public class UnsupportedException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public UnsupportedException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_NOT_FOUND: the looked-up item does not exist.</summary>
    public class NotFoundException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public NotFoundException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_BUFFER_TOO_SMALL (handled inside the wrapper).</summary>
    public class BufferTooSmallException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public BufferTooSmallException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_PANIC: a bug inside the library was caught at the C boundary.</summary>
    public class NativePanicException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public NativePanicException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_TOKEN_ACQUISITION_FAILED: the token endpoint refused, or discovery failed.</summary>
    public class TokenAcquisitionException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public TokenAcquisitionException(Status s, string n, string m) : base(s, n, m) { }
    }

    /// <summary>DSAPI_USER_INTERACTION_REQUIRED: a token for the user needs the user to act (MFA,
    /// consent, a Conditional Access policy, an expired long-running session), as Id.Web's
    /// <c>MicrosoftIdentityWebChallengeUserException</c>. Never retried by the library: a web API
    /// answers its own caller with the <see cref="Claims"/> challenge (a 401 with
    /// <c>WWW-Authenticate: Bearer ..., claims="&lt;base64 of Claims&gt;"</c>) so that the user's
    /// client signs the user in again with those claims.</summary>
    public class DownstreamApiUserInteractionRequiredException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>, without a claims challenge.</summary>
        public DownstreamApiUserInteractionRequiredException(Status s, string n, string m) : this(s, n, m, null) { }

        /// <summary>Creates the exception with the claims challenge <paramref name="claims"/> (JSON, or null).</summary>
        public DownstreamApiUserInteractionRequiredException(Status s, string n, string m, string claims) : base(s, n, m)
        {
            Claims = claims;
        }

        /// <summary>Entra ID's claims challenge (JSON, e.g. <c>{"access_token":{"capolids":...}}</c>),
        /// or null when the answer had none (an unknown or expired long-running session).</summary>
        public string Claims { get; private set; }
    }

    /// <summary>DSAPI_TOKEN_INVALID: <see cref="DownstreamApiClient.ValidateToken"/> refused the
    /// token (malformed, alg none, a signature that does not verify, expired, or an audience,
    /// issuer, scope or role not accepted). The message names the rule, never the token; a web API
    /// answers such a caller 401 with <c>WWW-Authenticate: Bearer error="invalid_token"</c>.</summary>
    public class DownstreamApiTokenInvalidException : DownstreamApiException
    {
        /// <summary>Creates the exception for status <paramref name="s"/>, its name <paramref name="n"/> and message <paramref name="m"/>.</summary>
        public DownstreamApiTokenInvalidException(Status s, string n, string m) : base(s, n, m) { }
    }
}
