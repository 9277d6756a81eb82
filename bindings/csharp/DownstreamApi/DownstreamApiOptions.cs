using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.Http;

namespace DownstreamApi
{
    /// <summary>
    /// What an Authorization header is made for (Microsoft.Identity.Abstractions'
    /// <c>AuthorizationHeaderProviderOptions</c>): the part of an API's options that the token and
    /// the URL depend on. Property names and meanings are Id.Web's.
    /// </summary>
    public class AuthorizationHeaderProviderOptions
    {
        /// <summary>Creates options with the library's defaults (GET, Bearer, no headers).</summary>
        public AuthorizationHeaderProviderOptions()
        {
            RelativePath = "";
            HttpMethod = "GET";
            ProtocolScheme = "Bearer";
            AcquireTokenOptions = new AcquireTokenOptions();
            ExtraHeaderParameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            ExtraQueryParameters = new Dictionary<string, string>(StringComparer.Ordinal);
        }

        /// <summary>Copies <paramref name="other"/>, dictionaries and token options included.</summary>
        protected AuthorizationHeaderProviderOptions(AuthorizationHeaderProviderOptions other)
        {
            if (other == null)
            {
                throw new ArgumentNullException("other");
            }
            BaseUrl = other.BaseUrl;
            RelativePath = other.RelativePath;
            HttpMethod = other.HttpMethod;
            ProtocolScheme = other.ProtocolScheme;
            RequestAppToken = other.RequestAppToken;
            AcquireTokenOptions = other.AcquireTokenOptions == null ? null : other.AcquireTokenOptions.Clone();
            ExtraHeaderParameters = Copy(other.ExtraHeaderParameters, StringComparer.OrdinalIgnoreCase);
            ExtraQueryParameters = Copy(other.ExtraQueryParameters, StringComparer.Ordinal);
        }

        /// <summary>The API's base URL, e.g. "https://orders.example/v1/". A query in the
        /// configured value is shown as "?…" (it may hold a key).</summary>
        public string BaseUrl { get; set; }

        /// <summary>The path after <see cref="BaseUrl"/>, joined with one '/' (null: none).</summary>
        public string RelativePath { get; set; }

        /// <summary>The HTTP method, e.g. "GET" or "POST".</summary>
        public string HttpMethod { get; set; }

        /// <summary>"Bearer" (an app token), "MTLS" (the client certificate alone) or "MTLS_POP".</summary>
        public string ProtocolScheme { get; set; }

        /// <summary>Id.Web's flag for app tokens: when true, the calls for a user
        /// (<c>CallApiForUserAsync</c>, ...) send the app's token, as in Id.Web.</summary>
        public bool RequestAppToken { get; set; }

        /// <summary>Tenant, ForceRefresh, Claims and CorrelationId of the token request.</summary>
        public AcquireTokenOptions AcquireTokenOptions { get; set; }

        /// <summary>Headers sent with every call (names ignore case). Values configured in the
        /// appsettings.json are not shown: the delegate sees their names with null values, and a
        /// null value left as it is keeps the configured one. Removing a name stops sending it.</summary>
        public IDictionary<string, string> ExtraHeaderParameters { get; set; }

        /// <summary>Query parameters added to the URL. Configured values are shown as null, as for
        /// <see cref="ExtraHeaderParameters"/>.</summary>
        public IDictionary<string, string> ExtraQueryParameters { get; set; }

        private static IDictionary<string, string> Copy(IDictionary<string, string> source, StringComparer comparer)
        {
            return source == null ? null : new Dictionary<string, string>(source, comparer);
        }
    }

    /// <summary>
    /// One API's options (Microsoft.Identity.Abstractions' <c>DownstreamApiOptions</c>). An override
    /// delegate receives them as configured for that API, so <c>options.RelativePath += "/42"</c>
    /// works; only what it changes is sent to the library as overrides of that call.
    /// </summary>
    public class DownstreamApiOptions : AuthorizationHeaderProviderOptions
    {
        /// <summary>Creates options with the library's defaults.</summary>
        public DownstreamApiOptions()
        {
            Scopes = new string[0];
            AcceptHeader = "application/json";
            ContentType = "application/json";
        }

        /// <summary>Copies <paramref name="other"/>.</summary>
        protected DownstreamApiOptions(DownstreamApiOptions other) : base(other)
        {
            Scopes = other.Scopes == null ? null : other.Scopes.ToArray();
            AcceptHeader = other.AcceptHeader;
            ContentType = other.ContentType;
            TimeoutSeconds = other.TimeoutSeconds;
            Serializer = other.Serializer;
            Deserializer = other.Deserializer;
        }

        /// <summary>The scopes of the API's token, e.g. "api://orders/.default".</summary>
        public IEnumerable<string> Scopes { get; set; }

        /// <summary>The Accept header (null or empty: none is sent).</summary>
        public string AcceptHeader { get; set; }

        /// <summary>The Content-Type of a body (an HttpContent's own Content-Type wins; null or
        /// empty: none is sent).</summary>
        public string ContentType { get; set; }

        /// <summary>This library's bound on the whole call in seconds, retries included (null:
        /// Http.TimeoutSeconds). Id.Web has no such option; it sets HttpClient.Timeout.</summary>
        public double? TimeoutSeconds { get; set; }

        /// <summary>Turns the input of the typed methods (<c>PostForAppAsync</c>, ...) into content;
        /// null: JSON by <c>DataContractJsonSerializer</c>.</summary>
        public Func<object, HttpContent> Serializer { get; set; }

        /// <summary>Turns a response's content into the output of the typed methods
        /// (<c>GetForAppAsync</c>, ...); null: JSON by <c>DataContractJsonSerializer</c>.</summary>
        public Func<HttpContent, object> Deserializer { get; set; }

        /// <summary>A deep copy (dictionaries, scopes and token options are copied).</summary>
        public DownstreamApiOptions Clone()
        {
            return new DownstreamApiOptions(this);
        }
    }

    /// <summary>Options of a token request (Microsoft.Identity.Abstractions' <c>AcquireTokenOptions</c>).</summary>
    public class AcquireTokenOptions
    {
        /// <summary>The tenant to get the token from instead of the configured one.</summary>
        public string Tenant { get; set; }

        /// <summary>Skip the token cache.</summary>
        public bool ForceRefresh { get; set; }

        /// <summary>A claims request (JSON), e.g. from a claims challenge.</summary>
        public string Claims { get; set; }

        /// <summary>The correlation id sent to the token endpoint.</summary>
        public Guid? CorrelationId { get; set; }

        /// <summary>When set, the token comes from the platform's managed identity (App Service,
        /// Service Fabric, Azure Arc, Cloud Shell, Azure ML or IMDS, chosen from the environment)
        /// instead of the app's credentials.</summary>
        public ManagedIdentityOptions ManagedIdentity { get; set; }

        /// <summary>Id.Web's long-running web API session: a call for a user with this key keeps
        /// the user's refresh token, and later calls naming the key alone (no user token, e.g. from a
        /// background job) go on as that user. <see cref="LongRunningWebApiSessionKeyAuto"/> lets the
        /// library choose the key (a hash of the user's token).</summary>
        public string LongRunningWebApiSessionKey { get; set; }

        /// <summary>The value of <see cref="LongRunningWebApiSessionKey"/> asking the library to
        /// allocate the key: "AllocateForMe", as in Microsoft.Identity.Abstractions.</summary>
        public static string LongRunningWebApiSessionKeyAuto
        {
            get { return "AllocateForMe"; }
        }

        /// <summary>The Entra agent identity (its app id) to call as, the configured app being its
        /// blueprint. Set it with <see cref="AgentIdentityExtension.WithAgentIdentity"/>; the name is
        /// the one the overrides JSON and Microsoft's sidecar use.</summary>
        public string AgentIdentity { get; set; }

        /// <summary>The UPN of the agent's user account to call as (with <see cref="AgentIdentity"/>;
        /// never with <see cref="AgentUserId"/>). Set by <c>WithAgentUserIdentity(id, upn)</c>.</summary>
        public string AgentUsername { get; set; }

        /// <summary>The object id of the agent's user account to call as (with
        /// <see cref="AgentIdentity"/>; never with <see cref="AgentUsername"/>). Set by
        /// <c>WithAgentUserIdentity(id, Guid)</c>; any string the token endpoint accepts may be set here.</summary>
        public string AgentUserId { get; set; }

        /// <summary>A copy (its <see cref="ManagedIdentity"/> copied too).</summary>
        public AcquireTokenOptions Clone()
        {
            var copy = (AcquireTokenOptions)MemberwiseClone();
            copy.ManagedIdentity = ManagedIdentity == null ? null : ManagedIdentity.Clone();
            return copy;
        }
    }

    /// <summary>Which managed identity (Microsoft.Identity.Abstractions' <c>ManagedIdentityOptions</c>,
    /// plus MSAL's other two ways to name one): the system-assigned one when all three are null.
    /// Set at most one.</summary>
    public class ManagedIdentityOptions
    {
        /// <summary>The client id of a user-assigned managed identity.</summary>
        public string UserAssignedClientId { get; set; }

        /// <summary>The Azure resource id of a user-assigned managed identity (this library's).</summary>
        public string UserAssignedResourceId { get; set; }

        /// <summary>The object (principal) id of a user-assigned managed identity (this library's).</summary>
        public string UserAssignedObjectId { get; set; }

        /// <summary>A copy.</summary>
        public ManagedIdentityOptions Clone()
        {
            return (ManagedIdentityOptions)MemberwiseClone();
        }
    }
}
