//! Tokens of an Entra agent identity, the configured app being its blueprint
//! (docs/design/users-and-agents.md, sections 3–5). Leg 1: the blueprint's token for the token
//! exchange with `fmi_path` = the agent (T1). Leg 2: the agent, T1 its assertion, gets its token
//! for the API (or, for its user, T2: its token for the exchange). Leg 3 (a user): `user_fic`
//! with T1 as the assertion and T2 as the user's credential. Each leg is cached apart.

use super::key::CacheKey;
use super::plan::{AgentClient, Plan, PlanGrant};
use crate::config::AgentUser;

/// The audience of T1 and T2.
pub const TOKEN_EXCHANGE_SCOPE: &str = "api://AzureADTokenExchange/.default";

/// Who the legs are for: the authority's and tenant's names, the blueprint and the agent.
pub struct Legs<'a> {
    pub authority: &'a str,
    pub tenant: &'a str,
    pub blueprint: &'a str,
    pub agent: &'a str,
    pub send_x5c: bool,
}

impl Legs<'_> {
    fn key(&self, client_id: &str, scopes: &[String]) -> CacheKey {
        CacheKey::new(self.authority, client_id, self.tenant, scopes, "Bearer")
    }

    /// An agent's own tokens are kept apart from the app's, even under the same client id.
    fn agent_key(&self, scopes: &[String]) -> CacheKey {
        self.key(self.agent, scopes)
            .qualified("blueprint", self.blueprint)
    }

    /// Leg 1: the blueprint's token for the exchange, for this agent (T1).
    pub fn t1(&self) -> Plan {
        let scopes = [TOKEN_EXCHANGE_SCOPE.to_string()];
        let key = self
            .key(self.blueprint, &scopes)
            .qualified("fmi_path", self.agent);
        let grant = PlanGrant::ClientCredentials {
            fmi_path: Some(self.agent.to_string()),
        };
        Plan::for_grant(key, grant, self.send_x5c)
    }

    /// Leg 2: the agent's own token for `scopes` (T2 for the exchange scope), T1 its assertion.
    pub fn agent_token(&self, scopes: &[String], t1: &str) -> Plan {
        let grant = PlanGrant::ClientCredentials { fmi_path: None };
        Plan {
            client: Some(self.client(t1)),
            ..Plan::for_grant(self.agent_key(scopes), grant, false)
        }
    }

    /// Leg 3: the agent's user's token for `scopes`.
    pub fn user_token(&self, scopes: &[String], (t1, t2): (&str, &str), user: &AgentUser) -> Plan {
        let name = match user {
            AgentUser::Username(upn) => upn.to_uppercase(),
            AgentUser::ObjectId(oid) => oid.to_uppercase(),
        };
        let key = self.agent_key(scopes).for_user("agent_user", &name);
        let grant = PlanGrant::UserFic {
            credential: t2.to_string(),
            user: user.clone(),
        };
        Plan {
            client: Some(self.client(t1)),
            ..Plan::for_grant(key, grant, false)
        }
    }

    fn client(&self, t1: &str) -> AgentClient {
        AgentClient {
            client_id: self.agent.to_string(),
            assertion: t1.to_string(),
        }
    }
}
