namespace DownstreamApi
{
    // Status is generated into Status.g.cs from the library's status table; these mirror the
    // header's DSAPI_LOG_* and DSAPI_EVENT_* values (the tests check them against it).
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
