//! `--user-token`, `--agent` and `--agent-user` of `call` and `header`: whom a call is made as. The user's token
//! is read like a body (text, `@FILE`, `-`; bounded) and is never shown, echoed or logged; an
//! agent and its user become the `AcquireTokenOptions` overrides every host passes
//! (`AgentIdentity`, `AgentUsername` or `AgentUserId`).

use clap::Args;
use serde_json::{Map, Value, json};

use crate::arguments::shown;
use crate::body;
use crate::exit::Failure;

/// The largest user token `--user-token` reads, in bytes: Entra's tokens are a few KiB.
pub const MAX_USER_TOKEN_BYTES: u64 = 64 * 1024;

/// Whom a call is made as (flattened into `call` and `header`).
#[derive(Args)]
pub struct IdentityArgs {
    /// Call on behalf of a user: the access token this service received from its caller, as
    /// @FILE, - (standard input) or the token itself (visible to other local users in the process
    /// list: prefer a file). Never printed
    #[arg(long, value_name = "@FILE|-|TOKEN", conflicts_with = "agent")]
    pub user_token: Option<String>,
    /// Call as this Entra agent identity (its app id); the configured app is its blueprint
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// Call as the agent's user: a UPN (a value with '@') or an object id
    #[arg(long, value_name = "UPN|OID", requires = "agent")]
    pub agent_user: Option<String>,
}

impl IdentityArgs {
    /// The `AcquireTokenOptions` overrides of `--agent` and `--agent-user`, checked for
    /// `subcommand`'s messages.
    pub fn agent_options(&self, subcommand: &str) -> Result<Option<Value>, Failure> {
        agent_options(
            subcommand,
            self.agent.as_deref(),
            self.agent_user.as_deref(),
        )
    }

    /// The user's token of `--user-token`, read and checked.
    pub fn user_token(&self, subcommand: &str) -> Result<Option<String>, Failure> {
        self.user_token
            .as_deref()
            .map(|value| user_token(subcommand, value))
            .transpose()
    }
}

/// The user's access token `value` gives (TOKEN, `@FILE`, `-` or `@-`), without the line end a
/// file or a pipe adds. Refused (exit 2, naming the option, never showing the token) when it is
/// empty, not UTF-8, holds a control character or white space inside, or is over 64 KiB.
pub fn user_token(subcommand: &str, value: &str) -> Result<String, Failure> {
    let bytes = body::read_capped_by(
        "--user-token",
        value,
        MAX_USER_TOKEN_BYTES,
        "the token",
        "the most a user token may be",
    )?;
    let error = |why: &str| {
        Err(crate::argument_error(
            subcommand,
            &format!("--user-token: {why}"),
        ))
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return error("the token is not UTF-8 text");
    };
    let token = text.trim();
    if token.is_empty() {
        return error("the token is empty; a call for a user needs the token the user sent");
    }
    if let Some(position) = token
        .chars()
        .position(|c| c.is_control() || c.is_whitespace())
    {
        return error(&format!(
            "the token holds a control character or white space (character {}): an access \
             token is one word",
            position + 1
        ));
    }
    Ok(token.to_string())
}

/// The `AcquireTokenOptions` overrides of `--agent` and `--agent-user` (a value with '@' is a
/// UPN, `AgentUsername`; any other an object id, `AgentUserId`), or `None` without `--agent`.
pub fn agent_options(
    subcommand: &str,
    agent: Option<&str>,
    agent_user: Option<&str>,
) -> Result<Option<Value>, Failure> {
    let Some(agent) = agent else {
        return Ok(None);
    };
    let error = |message: String| Err(crate::argument_error(subcommand, &message));
    if agent.trim().is_empty() {
        return error("--agent: the agent's app id is empty".to_string());
    }
    let mut options = Map::new();
    options.insert("AgentIdentity".into(), json!(agent));
    if let Some(user) = agent_user {
        if user.trim().is_empty() {
            return error("--agent-user: the agent's user (a UPN or an object id) is empty".into());
        }
        if user.chars().any(char::is_control) {
            return error(format!(
                "--agent-user: {} holds a control character",
                shown(user)
            ));
        }
        let key = if user.contains('@') {
            "AgentUsername"
        } else {
            "AgentUserId"
        };
        options.insert(key.into(), json!(user));
    }
    Ok(Some(Value::Object(options)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_user_with_an_at_sign_is_a_upn_else_an_object_id() {
        let by_upn = agent_options("call", Some("agent-id"), Some("a.user@contoso.com")).ok();
        assert_eq!(
            by_upn,
            Some(Some(
                json!({"AgentIdentity": "agent-id", "AgentUsername": "a.user@contoso.com"})
            ))
        );
        let by_oid = agent_options("call", Some("agent-id"), Some("0000-oid")).ok();
        assert_eq!(
            by_oid,
            Some(Some(
                json!({"AgentIdentity": "agent-id", "AgentUserId": "0000-oid"})
            ))
        );
        assert_eq!(
            agent_options("call", Some("agent-id"), None).ok(),
            Some(Some(json!({"AgentIdentity": "agent-id"})))
        );
        assert_eq!(agent_options("call", None, None).ok(), Some(None));
    }

    #[test]
    fn a_user_token_on_the_command_line_is_trimmed() {
        assert_eq!(
            user_token("call", " eyJ.a.b\n").ok().as_deref(),
            Some("eyJ.a.b")
        );
    }
}
