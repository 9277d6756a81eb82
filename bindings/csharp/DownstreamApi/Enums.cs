namespace DownstreamApi
{
    // Status is generated into Status.g.cs from the library's status table; these mirror the
    // header's DSAPI_LOG_* and DSAPI_EVENT_* values (the tests check them against it). Names avoid
    // framework types a host imports beside this namespace (Microsoft.Extensions.Logging.LogLevel).

    /// <summary>Log severity; a handler installed at a level also receives the more severe ones.</summary>
    public enum DownstreamApiLogLevel : uint
    {
        /// <summary>A failure the host should see.</summary>
        Error = 1,
        /// <summary>Something went wrong and was worked around (a retry, a reload).</summary>
        Warn = 2,
        /// <summary>Certificates selected, tokens fetched.</summary>
        Info = 3,
        /// <summary>Every call and cache hit.</summary>
        Debug = 4,
    }

    /// <summary>What happened to a certificate (Id.Web's <c>CerticateObserverAction</c>).</summary>
    public enum CertificateObserverAction : uint
    {
        /// <summary>A certificate became the one in use (first use or after a rotation).</summary>
        Selected = 1,
        /// <summary>The certificate in use was rejected by a server and dropped; Error says why.</summary>
        Deselected = 2,
        /// <summary>A call presenting the certificate got a response that was not a certificate rejection.</summary>
        SuccessfullyUsed = 3,
        /// <summary>The certificate in use expires within CertificateExpiryWarningDays (default 14); at most once a day per certificate.</summary>
        ExpiringSoon = 4,
    }
}
