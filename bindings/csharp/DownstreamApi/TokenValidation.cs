using System;
using System.Security.Claims;
using System.Threading;
using System.Threading.Tasks;

namespace DownstreamApi
{
    /// <summary>Validating the access token a web API received, as Id.Web's
    /// <c>AddMicrosoftIdentityWebApi</c> does, for hosts whose own server takes the request.</summary>
    public sealed partial class DownstreamApiClient
    {
        /// <summary>Validates <paramref name="token"/>, the access token this web API received
        /// (<c>Authorization: Bearer &lt;token&gt;</c>, without the scheme), and returns its caller
        /// as a ClaimsPrincipal: one claim per claim of the token (one per element of an array, one
        /// per scope of <c>scp</c>, one per role of <c>roles</c>), the name from <c>name</c>, roles
        /// from <c>roles</c> (so <c>IsInRole</c> works), authentication type "Bearer", and the
        /// token as <c>BootstrapContext</c>, so that <c>CallApiForUserAsync(…, user)</c> calls on
        /// its behalf. The signature must verify (RS256 or ES256) with the key its <c>kid</c>
        /// names among those the configured authority publishes (OpenID discovery, read once and
        /// again for an unknown <c>kid</c> at most once a minute); <c>exp</c>/<c>nbf</c> allow 5
        /// minutes of clock skew; <c>aud</c> must be AzureAd.ClientId, <c>api://{ClientId}</c>,
        /// AzureAd.Audience or one of AzureAd.Audiences; <c>iss</c> the token's tenant's (Entra v2
        /// or v1) or the provider's; with AzureAd.Scopes or AzureAd.Roles, <c>scp</c> or
        /// <c>roles</c> must hold one. May read the issuer's keys on the caller's thread.</summary>
        /// <exception cref="DownstreamApiTokenInvalidException">The token is refused; the message names the rule, never the token.</exception>
        /// <exception cref="DownstreamApiConfigurationException">No authority, or no client id nor audience, configured.</exception>
        /// <exception cref="TokenAcquisitionException">The issuer's discovery document or keys could not be read (the message names the URL).</exception>
        public ClaimsPrincipal ValidateToken(string token)
        {
            string claims = ValidateTokenJson(token);
            var identity = new ClaimsIdentity(TokenClaims.Read(claims), "Bearer", "name", "roles");
            identity.BootstrapContext = token.Trim();
            return new ClaimsPrincipal(identity);
        }

        /// <summary><see cref="ValidateToken"/>'s checks, and the token's claims as the JSON
        /// object of its payload.</summary>
        /// <exception cref="DownstreamApiTokenInvalidException">The token is refused; the message names the rule, never the token.</exception>
        public string ValidateTokenJson(string token)
        {
            byte[] native = Utf8.ToNative(Required(token, "token"));
            IntPtr claims;
            Ensure.Success(NativeMethods.dsapi_client_validate_token(Handle(), native, out claims));
            return TakeString(claims);
        }

        /// <summary><see cref="ValidateToken"/> on the thread pool (the first validation, and one
        /// naming an unknown key, read the issuer's keys).</summary>
        public Task<ClaimsPrincipal> ValidateTokenAsync(string token, CancellationToken cancellationToken = default(CancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            Required(token, "token");
            return Background.Run(() => ValidateToken(token), cancellationToken);
        }
    }
}
