using System;

namespace DownstreamApi
{
    /// <summary>An app token from <see cref="DownstreamApiClient.AcquireTokenForApp"/>. The token
    /// is a secret: <see cref="ToString"/> leaves it out.</summary>
    public sealed class AccessToken
    {
        internal AccessToken(string token, DateTimeOffset expiresOn)
        {
            Token = token;
            ExpiresOn = expiresOn;
        }

        /// <summary>The access token (do not log it).</summary>
        public string Token { get; private set; }

        /// <summary>When the token expires (UTC).</summary>
        public DateTimeOffset ExpiresOn { get; private set; }

        /// <summary>"AccessToken(expires ...)", without the token.</summary>
        public override string ToString()
        {
            return "AccessToken(expires " + ExpiresOn.ToString("o") + ")";
        }
    }
}
