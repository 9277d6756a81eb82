namespace DownstreamApi
{
    /// <summary>The library's status codes (<c>dsapi_status</c>); numbers are stable.</summary>
    public enum Status : uint
    {
        Ok = 0,
        InvalidArgument = 1,
        ConfigInvalid = 2,
        IoError = 3,
        UnknownApi = 4,
        CredentialUnavailable = 5,
        CertificateRejected = 6,
        TlsError = 7,
        NetworkError = 8,
        Timeout = 9,
        InsecureUrl = 10,
        ProtocolError = 11,
        Unsupported = 12,
        NotFound = 13,
        BufferTooSmall = 14,
        Panic = 15,
        TokenAcquisitionFailed = 16,
    }

    /// <summary>Log severity; a handler installed at a level also receives the more severe ones.</summary>
    public enum LogLevel : uint
    {
        Error = 1,
        Warn = 2,
        Info = 3,
        Debug = 4,
    }

    /// <summary>Kind of a credential event.</summary>
    public enum CredentialEventKind : uint
    {
        /// <summary>A certificate became the one in use (first use or after a rotation).</summary>
        Selected = 1,
        /// <summary>The certificate in use was rejected by a server and dropped; Error says why.</summary>
        Deselected = 2,
        /// <summary>A call presenting the certificate got a response that was not a certificate rejection.</summary>
        SuccessfullyUsed = 3,
    }
}
