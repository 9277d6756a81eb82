using System;

namespace DownstreamApi
{
    /// <summary>
    /// Calls as an Entra agent identity, or as an agent's user account (Id.Web's
    /// <c>AgentIdentityExtension</c>, Microsoft.Identity.Web.AgentIdentities): the configured app
    /// (AzureAd.ClientId and its ClientCredentials) is the agent's blueprint. In an override
    /// delegate: <c>options => options.WithAgentIdentity(agentId)</c> for the agent's own token
    /// (<c>CallApiForAppAsync</c>), <c>options => options.WithAgentUserIdentity(agentId, upn)</c> for
    /// its user's (<c>CallApiForUserAsync</c>, or any call: no user token is needed). They set
    /// <see cref="AcquireTokenOptions.AgentIdentity"/>, <see cref="AcquireTokenOptions.AgentUsername"/>
    /// and <see cref="AcquireTokenOptions.AgentUserId"/>, sent in the call's overrides.
    /// </summary>
    public static class AgentIdentityExtension
    {
        /// <summary>Calls as the agent <paramref name="agentApplicationId"/> itself (no user: an
        /// agent's user set before is dropped). Changes <paramref name="options"/> in place and
        /// returns it; null options are created, as in Id.Web.</summary>
        /// <exception cref="ArgumentException">No agent id.</exception>
        public static AuthorizationHeaderProviderOptions WithAgentIdentity(this AuthorizationHeaderProviderOptions options, string agentApplicationId)
        {
            var token = TokenOptions(ref options, agentApplicationId);
            token.AgentIdentity = agentApplicationId;
            token.AgentUsername = null;
            token.AgentUserId = null;
            return options;
        }

        /// <summary>Calls as the user account <paramref name="username"/> (its UPN) of the agent
        /// <paramref name="agentApplicationId"/> (an object id set before is dropped).</summary>
        /// <exception cref="ArgumentException">No agent id or no UPN.</exception>
        public static AuthorizationHeaderProviderOptions WithAgentUserIdentity(this AuthorizationHeaderProviderOptions options, string agentApplicationId, string username)
        {
            if (string.IsNullOrWhiteSpace(username))
            {
                throw new ArgumentException("the agent user's UPN is empty", "username");
            }
            var token = TokenOptions(ref options, agentApplicationId);
            token.AgentIdentity = agentApplicationId;
            token.AgentUsername = username;
            token.AgentUserId = null;
            return options;
        }

        /// <summary>Calls as the user account with object id <paramref name="userId"/> of the agent
        /// <paramref name="agentApplicationId"/> (a UPN set before is dropped); sent as
        /// <c>userId.ToString("D")</c>, as Id.Web does.</summary>
        /// <exception cref="ArgumentException">No agent id, or an empty Guid.</exception>
        public static AuthorizationHeaderProviderOptions WithAgentUserIdentity(this AuthorizationHeaderProviderOptions options, string agentApplicationId, Guid userId)
        {
            if (userId == Guid.Empty)
            {
                throw new ArgumentException("the agent user's object id is the empty Guid", "userId");
            }
            var token = TokenOptions(ref options, agentApplicationId);
            token.AgentIdentity = agentApplicationId;
            token.AgentUsername = null;
            token.AgentUserId = userId.ToString("D");
            return options;
        }

        private static AcquireTokenOptions TokenOptions(ref AuthorizationHeaderProviderOptions options, string agentApplicationId)
        {
            if (agentApplicationId == null)
            {
                throw new ArgumentNullException("agentApplicationId");
            }
            if (agentApplicationId.Trim().Length == 0)
            {
                throw new ArgumentException("the agent's application id is empty", "agentApplicationId");
            }
            if (options == null)
            {
                options = new AuthorizationHeaderProviderOptions();
            }
            if (options.AcquireTokenOptions == null)
            {
                options.AcquireTokenOptions = new AcquireTokenOptions();
            }
            return options.AcquireTokenOptions;
        }
    }
}
