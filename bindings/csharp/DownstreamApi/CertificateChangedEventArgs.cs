using System;

namespace DownstreamApi
{
    /// <summary>
    /// A certificate event (Id.Web's <c>ICertificatesObserver</c>: Selected, Deselected,
    /// SuccessfullyUsed, and this library's ExpiringSoon), raised by <see cref="DownstreamApiClient.CertificateChanged"/> on the
    /// thread making the call.
    /// </summary>
    public sealed class CertificateChangedEventArgs : EventArgs
    {
        internal CertificateChangedEventArgs(NativeCredentialEvent native)
        {
            Action = (CertificateObserverAction)native.Kind;
            Thumbprint = Utf8.FromNative(native.Thumbprint) ?? "";
            Subject = Utf8.FromNative(native.Subject) ?? "";
            Source = Utf8.FromNative(native.Source) ?? "";
            Protocol = Utf8.FromNative(native.Protocol) ?? "";
            ApiUrl = Utf8.FromNative(native.ApiUrl) ?? "";
            Error = Utf8.FromNative(native.Error);
            DaysLeft = native.DaysLeft >= 0 ? native.DaysLeft : (long?)null;
        }

        /// <summary>What happened to the certificate.</summary>
        public CertificateObserverAction Action { get; private set; }

        /// <summary>SHA-1 thumbprint of the certificate, upper-case hex.</summary>
        public string Thumbprint { get; private set; }

        /// <summary>The certificate's subject, e.g. "CN=orders-client".</summary>
        public string Subject { get; private set; }

        /// <summary>Which ClientCredentials entry, e.g. "ClientCredentials[0] (Path)".</summary>
        public string Source { get; private set; }

        /// <summary>"MTLS" or "Bearer" (a certificate signing the client assertion).</summary>
        public string Protocol { get; private set; }

        /// <summary>The URL of the call (query redacted).</summary>
        public string ApiUrl { get; private set; }

        /// <summary>Why the certificate was dropped; null unless <see cref="Action"/> is Deselected.</summary>
        public string Error { get; private set; }

        /// <summary>Whole days until the certificate expires; set only when <see cref="Action"/> is ExpiringSoon.</summary>
        public long? DaysLeft { get; private set; }
    }
}
