using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.Serialization;
using System.Runtime.Serialization.Json;
using System.Text;

namespace DownstreamApi
{
    /// <summary>
    /// The JSON that crosses the boundary for options: <c>dsapi_client_api_options</c>' answer read
    /// into <see cref="DownstreamApiOptions"/>, and the overrides of one call written as what an
    /// override delegate changed (the library merges them into the configuration, a null header or
    /// query value removing a configured name).
    /// </summary>
    internal static class OptionsJson
    {
        private static readonly DataContractJsonSerializer Reader = new DataContractJsonSerializer(
            typeof(NativeOptions), new DataContractJsonSerializerSettings { UseSimpleDictionaryFormat = true });

        internal static DownstreamApiOptions Parse(string json)
        {
            NativeOptions native;
            using (var stream = new MemoryStream(Encoding.UTF8.GetBytes(json)))
            {
                native = (NativeOptions)Reader.ReadObject(stream);
            }
            var token = native.AcquireTokenOptions ?? new NativeTokenOptions();
            Guid correlationId;
            return new DownstreamApiOptions
            {
                BaseUrl = native.BaseUrl,
                RelativePath = native.RelativePath ?? "",
                HttpMethod = native.HttpMethod,
                Scopes = native.Scopes ?? new string[0],
                RequestAppToken = native.RequestAppToken,
                ProtocolScheme = native.ProtocolScheme,
                AcceptHeader = native.AcceptHeader,
                ContentType = native.ContentType,
                TimeoutSeconds = native.TimeoutSeconds,
                ExtraHeaderParameters = new Dictionary<string, string>(
                    native.ExtraHeaderParameters ?? new Dictionary<string, string>(), StringComparer.OrdinalIgnoreCase),
                ExtraQueryParameters = new Dictionary<string, string>(
                    native.ExtraQueryParameters ?? new Dictionary<string, string>(), StringComparer.Ordinal),
                AcquireTokenOptions = new AcquireTokenOptions
                {
                    Tenant = token.Tenant,
                    ForceRefresh = token.ForceRefresh,
                    Claims = token.Claims,
                    CorrelationId = Guid.TryParse(token.CorrelationId, out correlationId) ? correlationId : (Guid?)null,
                    LongRunningWebApiSessionKey = token.LongRunningWebApiSessionKey,
                    AgentIdentity = token.AgentIdentity,
                    AgentUsername = token.AgentUsername,
                    AgentUserId = token.AgentUserId,
                    ManagedIdentity = token.ManagedIdentity == null
                        ? null
                        : new ManagedIdentityOptions
                        {
                            UserAssignedClientId = token.ManagedIdentity.UserAssignedClientId,
                            UserAssignedResourceId = token.ManagedIdentity.UserAssignedResourceId,
                            UserAssignedObjectId = token.ManagedIdentity.UserAssignedObjectId,
                        },
                },
            };
        }

        /// <summary>The overrides object for what <paramref name="edited"/> changed from
        /// <paramref name="configured"/>; null when nothing changed.</summary>
        internal static JsonObject Overrides(DownstreamApiOptions configured, DownstreamApiOptions edited)
        {
            var overrides = new JsonObject();
            overrides.StringIfChanged("BaseUrl", configured.BaseUrl, edited.BaseUrl);
            // Null is "none" for these, as in Id.Web: no path, no Accept or Content-Type header.
            overrides.StringIfChanged("RelativePath", configured.RelativePath, edited.RelativePath ?? "");
            overrides.StringIfChanged("HttpMethod", configured.HttpMethod, edited.HttpMethod);
            overrides.StringIfChanged("ProtocolScheme", configured.ProtocolScheme, edited.ProtocolScheme);
            overrides.StringIfChanged("AcceptHeader", configured.AcceptHeader, edited.AcceptHeader ?? "");
            overrides.StringIfChanged("ContentType", configured.ContentType, edited.ContentType ?? "");
            if (configured.RequestAppToken != edited.RequestAppToken)
            {
                overrides.Bool("RequestAppToken", edited.RequestAppToken);
            }
            if (configured.TimeoutSeconds != edited.TimeoutSeconds)
            {
                if (!edited.TimeoutSeconds.HasValue || double.IsNaN(edited.TimeoutSeconds.Value) || double.IsInfinity(edited.TimeoutSeconds.Value))
                {
                    throw new ArgumentException("TimeoutSeconds must be a finite number of seconds");
                }
                overrides.Number("TimeoutSeconds", edited.TimeoutSeconds.Value);
            }
            var scopes = (edited.Scopes ?? new string[0]).ToList();
            if (!scopes.SequenceEqual(configured.Scopes ?? new string[0]))
            {
                overrides.Strings("Scopes", scopes);
            }
            overrides.Changes("ExtraHeaderParameters", configured.ExtraHeaderParameters, edited.ExtraHeaderParameters, StringComparer.OrdinalIgnoreCase);
            overrides.Changes("ExtraQueryParameters", configured.ExtraQueryParameters, edited.ExtraQueryParameters, StringComparer.Ordinal);
            var token = TokenOverrides(configured.AcquireTokenOptions, edited.AcquireTokenOptions);
            if (token != null)
            {
                overrides.Object("AcquireTokenOptions", token);
            }
            return overrides.IsEmpty ? null : overrides;
        }

        /// <summary>An AcquireTokenOptions object as the library reads it (also for a token request).</summary>
        internal static JsonObject TokenOverrides(AcquireTokenOptions configured, AcquireTokenOptions edited)
        {
            configured = configured ?? new AcquireTokenOptions();
            edited = edited ?? configured;
            var token = new JsonObject();
            token.StringIfChanged("Tenant", configured.Tenant, edited.Tenant);
            token.StringIfChanged("Claims", configured.Claims, edited.Claims);
            token.StringIfChanged("CorrelationId", Text(configured.CorrelationId), Text(edited.CorrelationId));
            if (configured.ForceRefresh != edited.ForceRefresh)
            {
                token.Bool("ForceRefresh", edited.ForceRefresh);
            }
            token.StringIfChanged("LongRunningWebApiSessionKey", configured.LongRunningWebApiSessionKey, edited.LongRunningWebApiSessionKey);
            Agent(token, configured, edited);
            string configuredIdentity = Describe(configured.ManagedIdentity);
            string editedIdentity = Describe(edited.ManagedIdentity);
            if (configuredIdentity != editedIdentity)
            {
                // A null ManagedIdentity is sent as JSON null: the app's own token again.
                JsonObject identity = null;
                if (edited.ManagedIdentity != null)
                {
                    identity = new JsonObject();
                    var ids = new[]
                    {
                        new KeyValuePair<string, string>("UserAssignedClientId", edited.ManagedIdentity.UserAssignedClientId),
                        new KeyValuePair<string, string>("UserAssignedResourceId", edited.ManagedIdentity.UserAssignedResourceId),
                        new KeyValuePair<string, string>("UserAssignedObjectId", edited.ManagedIdentity.UserAssignedObjectId),
                    };
                    foreach (var id in ids.Where(id => id.Value != null))
                    {
                        identity.String(id.Key, id.Value);
                    }
                }
                token.Object("ManagedIdentity", identity);
            }
            return token.IsEmpty ? null : token;
        }

        /// <summary>The agent and its user travel as one: the library replaces the configured agent
        /// (and its user) by an override naming AgentIdentity, so a change to any of the three sends
        /// AgentIdentity with the user it has now.</summary>
        private static void Agent(JsonObject token, AcquireTokenOptions configured, AcquireTokenOptions edited)
        {
            if (string.Equals(configured.AgentIdentity, edited.AgentIdentity, StringComparison.Ordinal) &&
                string.Equals(configured.AgentUsername, edited.AgentUsername, StringComparison.Ordinal) &&
                string.Equals(configured.AgentUserId, edited.AgentUserId, StringComparison.Ordinal))
            {
                return;
            }
            if (!string.IsNullOrEmpty(edited.AgentUsername) && !string.IsNullOrEmpty(edited.AgentUserId))
            {
                throw new ArgumentException("AcquireTokenOptions: AgentUsername and AgentUserId name the same user: give one");
            }
            if (string.IsNullOrEmpty(edited.AgentIdentity))
            {
                if (!string.IsNullOrEmpty(edited.AgentUsername) || !string.IsNullOrEmpty(edited.AgentUserId))
                {
                    throw new ArgumentException("AcquireTokenOptions: an agent's user (AgentUsername, AgentUserId) needs AgentIdentity");
                }
                throw new ArgumentException("AcquireTokenOptions.AgentIdentity: a configured agent cannot be removed for one call");
            }
            token.String("AgentIdentity", edited.AgentIdentity);
            if (!string.IsNullOrEmpty(edited.AgentUsername))
            {
                token.String("AgentUsername", edited.AgentUsername);
            }
            if (!string.IsNullOrEmpty(edited.AgentUserId))
            {
                token.String("AgentUserId", edited.AgentUserId);
            }
        }

        /// <summary>Compares managed identities by value: null (none), else the three ids.</summary>
        private static string Describe(ManagedIdentityOptions identity)
        {
            return identity == null
                ? null
                : "client=" + identity.UserAssignedClientId + "|resource=" + identity.UserAssignedResourceId +
                  "|object=" + identity.UserAssignedObjectId;
        }

        private static string Text(Guid? id)
        {
            return id.HasValue ? id.Value.ToString("D") : null;
        }

        [DataContract]
        private sealed class NativeOptions
        {
            [DataMember] public string BaseUrl = null;
            [DataMember] public string RelativePath = null;
            [DataMember] public string HttpMethod = null;
            [DataMember] public string[] Scopes = null;
            [DataMember] public bool RequestAppToken = false;
            [DataMember] public string ProtocolScheme = null;
            [DataMember] public string AcceptHeader = null;
            [DataMember] public string ContentType = null;
            [DataMember] public Dictionary<string, string> ExtraHeaderParameters = null;
            [DataMember] public Dictionary<string, string> ExtraQueryParameters = null;
            [DataMember] public NativeTokenOptions AcquireTokenOptions = null;
            [DataMember] public double? TimeoutSeconds = null;
        }

        [DataContract]
        private sealed class NativeTokenOptions
        {
            [DataMember] public string Tenant = null;
            [DataMember] public bool ForceRefresh = false;
            [DataMember] public string Claims = null;
            [DataMember] public string CorrelationId = null;
            [DataMember] public NativeManagedIdentity ManagedIdentity = null;
            // Not in the library's options JSON today (a configured agent is not shown); read
            // when present.
            [DataMember] public string LongRunningWebApiSessionKey = null;
            [DataMember] public string AgentIdentity = null;
            [DataMember] public string AgentUsername = null;
            [DataMember] public string AgentUserId = null;
        }

        [DataContract]
        private sealed class NativeManagedIdentity
        {
            [DataMember] public string UserAssignedClientId = null;
            [DataMember] public string UserAssignedResourceId = null;
            [DataMember] public string UserAssignedObjectId = null;
        }
    }
}
