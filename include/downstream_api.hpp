// downstream-api for C++17: a header-only layer over the C ABI of downstream_api.h, with no
// logic of its own beyond the wrapping. Handles are owned by move-only classes (RAII), failures
// throw downstream_api::Error carrying the status and the library's message, strings go in as
// std::string_view and come out as std::string or std::vector<std::uint8_t>.
//
// Thread safety is the C library's: a const Client may be used from many threads at once; a
// Response is immutable. Written by hand (not generated); tests/bindings_parity.rs fails when a
// function of downstream_api.h is used nowhere here, and tests/cpp/ runs it under the sanitizers.
#ifndef DOWNSTREAM_API_HPP
#define DOWNSTREAM_API_HPP

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "downstream_api.h"

namespace downstream_api {

// A failed call: status() is the dsapi_status, what() the status name and the library's message
// with its whole cause chain (never a secret). claims() is Entra ID's claims challenge when the
// status is DSAPI_USER_INTERACTION_REQUIRED (then the Error is a UserInteractionRequired), else "".
// DSAPI_TOKEN_INVALID is thrown as a TokenInvalid.
class Error : public std::runtime_error {
 public:
  Error(dsapi_status status, const std::string &message, std::string claims = std::string())
      : std::runtime_error(std::string(dsapi_status_str(status)) + ": " + message),
        status_(status),
        claims_(std::make_shared<const std::string>(std::move(claims))) {}

  dsapi_status status() const noexcept { return status_; }
  // The static name, e.g. "DSAPI_TIMEOUT".
  const char *status_name() const noexcept { return dsapi_status_str(status_); }
  // The claims challenge (JSON), "" unless the status is DSAPI_USER_INTERACTION_REQUIRED.
  const std::string &claims() const noexcept { return *claims_; }

 private:
  dsapi_status status_;
  // Shared so that copying an exception cannot throw.
  std::shared_ptr<const std::string> claims_;
};

// DSAPI_USER_INTERACTION_REQUIRED: a token for the user needs the user to act (MFA, consent, a
// Conditional Access policy, an expired long-running session); never retried. claims() is the
// challenge for the web API's own answer to its caller (WWW-Authenticate, or a 403 body), as
// Id.Web's MicrosoftIdentityWebChallengeUserException carries it.
class UserInteractionRequired : public Error {
 public:
  UserInteractionRequired(const std::string &message, std::string claims)
      : Error(DSAPI_USER_INTERACTION_REQUIRED, message, std::move(claims)) {}
};

// DSAPI_TOKEN_INVALID: Client::validate_token refused the token (malformed, alg none, a signature
// that does not verify, expired, or an audience, issuer, scope or role not accepted). what() names
// the rule, never the token; a web API answers such a caller 401 (invalid_token).
class TokenInvalid : public Error {
 public:
  explicit TokenInvalid(const std::string &message) : Error(DSAPI_TOKEN_INVALID, message) {}
};

namespace detail {

// A string of the calling thread's last error, read with dsapi_last_error_message's protocol.
inline std::string last_error_string(dsapi_status (*read)(char *, std::size_t, std::size_t *)) {
  std::size_t needed = 0;
  read(nullptr, 0, &needed);
  std::string text(needed, '\0');
  if (needed == 0 || read(text.data(), text.size(), &needed) != DSAPI_OK) {
    return std::string();
  }
  text.resize(needed - 1);
  return text;
}

// The calling thread's last error message.
inline std::string last_error() { return last_error_string(&dsapi_last_error_message); }

// The claims challenge of the calling thread's last error ("" unless it needs the user).
inline std::string last_error_claims() { return last_error_string(&dsapi_last_error_claims); }

inline void check(dsapi_status status) {
  if (status == DSAPI_USER_INTERACTION_REQUIRED) {
    // Read on the failing thread, right after the call, before anything replaces them.
    std::string message = last_error();
    throw UserInteractionRequired(message, last_error_claims());
  }
  if (status == DSAPI_TOKEN_INVALID) {
    throw TokenInvalid(last_error());
  }
  if (status != DSAPI_OK) {
    throw Error(status, last_error());
  }
}

// string_view is not NUL-terminated; the C functions copy what they are given.
inline std::string terminated(std::string_view text) { return std::string(text); }

struct ClientFree {
  void operator()(dsapi_client *client) const noexcept { dsapi_client_free(client); }
};
struct ResponseFree {
  void operator()(dsapi_response *response) const noexcept { dsapi_response_free(response); }
};
struct StringFree {
  void operator()(char *text) const noexcept { dsapi_string_free(text); }
};
using OwnedString = std::unique_ptr<char, StringFree>;

}  // namespace detail

// An HTTP response of any status. Move-only; owns its dsapi_response.
class Response {
 public:
  explicit Response(dsapi_response *handle) noexcept : handle_(handle) {}

  std::uint16_t status() const noexcept { return dsapi_response_status(handle_.get()); }

  // The body, borrowed from this response.
  std::string_view text() const noexcept {
    std::size_t length = 0;
    const std::uint8_t *body = dsapi_response_body(handle_.get(), &length);
    return std::string_view(reinterpret_cast<const char *>(body), length);
  }

  std::vector<std::uint8_t> body() const {
    std::size_t length = 0;
    const std::uint8_t *body = dsapi_response_body(handle_.get(), &length);
    return std::vector<std::uint8_t>(body, body + length);
  }

  // The first header named `name` (ignoring case), if any.
  std::optional<std::string> header(std::string_view name) const {
    const char *value = nullptr;
    dsapi_status status = dsapi_response_header(handle_.get(), detail::terminated(name).c_str(), &value);
    if (status == DSAPI_NOT_FOUND) {
      return std::nullopt;
    }
    detail::check(status);
    return std::string(value);
  }

  // The method and URL (query redacted) of the request this answers, borrowed from this response.
  std::string_view method() const { return request().first; }
  std::string_view url() const { return request().second; }

  // Every header in received order, names in lower case.
  std::vector<std::pair<std::string, std::string>> headers() const {
    std::vector<std::pair<std::string, std::string>> all;
    std::size_t count = dsapi_response_header_count(handle_.get());
    for (std::size_t index = 0; index < count; ++index) {
      const char *name = nullptr;
      const char *value = nullptr;
      detail::check(dsapi_response_header_at(handle_.get(), index, &name, &value));
      all.emplace_back(name, value);
    }
    return all;
  }

 private:
  std::pair<std::string_view, std::string_view> request() const {
    const char *method = nullptr;
    const char *url = nullptr;
    detail::check(dsapi_response_request(handle_.get(), &method, &url));
    return {method, url};
  }

  std::unique_ptr<dsapi_response, detail::ResponseFree> handle_;
};

// A credential event, copied out of the callback. `kind` is one of DSAPI_EVENT_SELECTED,
// DSAPI_EVENT_DESELECTED, DSAPI_EVENT_SUCCESSFULLY_USED, DSAPI_EVENT_EXPIRING_SOON.
struct CredentialEvent {
  dsapi_event_kind kind;
  std::string thumbprint;
  std::string subject;
  std::string source;
  std::string protocol;
  std::string api_url;
  // Why the certificate was dropped: only with DSAPI_EVENT_DESELECTED.
  std::optional<std::string> error;
  // Whole days until the certificate expires: only with DSAPI_EVENT_EXPIRING_SOON.
  std::optional<std::int64_t> days_left;
};

// An app token and its expiry in Unix seconds. The value is a secret: do not log it.
struct Token {
  std::string value;
  std::int64_t expires_on;
};

// A client of the downstream APIs of one appsettings.json. Move-only; share one per process
// (its const member functions may be called from many threads at once).
class Client {
 public:
  using Observer = std::function<void(const CredentialEvent &)>;

  static Client from_json(std::string_view json) {
    dsapi_client *handle = nullptr;
    detail::check(dsapi_client_new(detail::terminated(json).c_str(), &handle));
    return Client(Handle(handle));
  }

  static Client from_file(std::string_view path) {
    dsapi_client *handle = nullptr;
    detail::check(dsapi_client_new_from_file(detail::terminated(path).c_str(), &handle));
    return Client(Handle(handle));
  }

  // Calls the API named `api`; `overrides_json` (empty: none) replaces DownstreamApis keys for this
  // call. Any HTTP status is a response; no response at all throws Error.
  Response call(std::string_view api, std::string_view overrides_json = {},
                std::string_view body = {}) const {
    std::string overrides(overrides_json);
    dsapi_response *response = nullptr;
    detail::check(dsapi_client_call(handle_.get(), detail::terminated(api).c_str(),
                                    overrides.empty() ? nullptr : overrides.c_str(),
                                    reinterpret_cast<const std::uint8_t *>(body.data()), body.size(),
                                    &response));
    return Response(response);
  }

  // `call` on behalf of a user (Id.Web's CallApiForUserAsync): `user_token` is the access token
  // this web API received from its caller (a secret, copied, never logged); the API's token is
  // that user's (on-behalf-of, Entra ID), cached for that user only, unless the API's
  // RequestAppToken is true. Throws UserInteractionRequired (with claims()) when Entra ID needs the
  // user. Agents and long-running sessions go in `overrides_json`'s AcquireTokenOptions:
  // {"AgentIdentity": "<agent app id>", "AgentUsername": "<upn>" | "AgentUserId": "<oid>"},
  // {"LongRunningWebApiSessionKey": "<key>"} (then `call` naming the session alone goes on).
  Response call_for_user(std::string_view api, std::string_view user_token,
                         std::string_view overrides_json = {}, std::string_view body = {}) const {
    std::string overrides(overrides_json);
    dsapi_response *response = nullptr;
    detail::check(dsapi_client_call_for_user(
        handle_.get(), detail::terminated(api).c_str(), detail::terminated(user_token).c_str(),
        overrides.empty() ? nullptr : overrides.c_str(),
        reinterpret_cast<const std::uint8_t *>(body.data()), body.size(), &response));
    return Response(response);
  }

  // The Authorization header value a call to `api` would carry (a Bearer API). A secret.
  std::string authorization_header(std::string_view api, std::string_view overrides_json = {}) const {
    std::string overrides(overrides_json);
    char *header = nullptr;
    detail::check(dsapi_client_authorization_header(handle_.get(), detail::terminated(api).c_str(),
                                                    overrides.empty() ? nullptr : overrides.c_str(),
                                                    &header));
    return std::string(detail::OwnedString(header).get());
  }

  // authorization_header on behalf of the holder of `user_token` (Id.Web's
  // CreateAuthorizationHeaderForUserAsync), as call_for_user. A secret.
  std::string authorization_header_for_user(std::string_view api, std::string_view user_token,
                                            std::string_view overrides_json = {}) const {
    std::string overrides(overrides_json);
    char *header = nullptr;
    detail::check(dsapi_client_authorization_header_for_user(
        handle_.get(), detail::terminated(api).c_str(), detail::terminated(user_token).c_str(),
        overrides.empty() ? nullptr : overrides.c_str(), &header));
    return std::string(detail::OwnedString(header).get());
  }

  // Validates `token`, the access token this web API received (without "Bearer "), as Id.Web's
  // AddMicrosoftIdentityWebApi does (see dsapi_client_validate_token), and returns its claims as
  // a JSON object. Throws TokenInvalid naming the rule broken, or Error when the issuer's keys
  // cannot be read.
  std::string validate_token(std::string_view token) const {
    char *claims = nullptr;
    detail::check(
        dsapi_client_validate_token(handle_.get(), detail::terminated(token).c_str(), &claims));
    return std::string(detail::OwnedString(claims).get());
  }

  // The options a call to `api` would use, as JSON in Id.Web's names (see
  // dsapi_client_api_options); header and query values are withheld.
  std::string api_options(std::string_view api, std::string_view overrides_json = {}) const {
    std::string overrides(overrides_json);
    char *json = nullptr;
    detail::check(dsapi_client_api_options(handle_.get(), detail::terminated(api).c_str(),
                                           overrides.empty() ? nullptr : overrides.c_str(), &json));
    return std::string(detail::OwnedString(json).get());
  }

  // Every ClientCredentials entry as a JSON array (see dsapi_client_describe_credentials): what it
  // loaded into, or why it failed. Holds no secret.
  std::string describe_credentials() const {
    char *json = nullptr;
    detail::check(dsapi_client_describe_credentials(handle_.get(), &json));
    return std::string(detail::OwnedString(json).get());
  }

  // The library's counters and this client's certificates as a JSON object (see
  // dsapi_client_metrics): calls, tokenRequests, tokenCache, tlsHandshakes, retries and
  // certificates. Loads nothing.
  std::string metrics_json() const {
    char *json = nullptr;
    detail::check(dsapi_client_metrics(handle_.get(), &json));
    return std::string(detail::OwnedString(json).get());
  }

  // An app token for space-separated `scopes`; `options_json` is an AcquireTokenOptions object.
  Token acquire_token(std::string_view scopes, std::string_view options_json = {}) const {
    std::string options(options_json);
    char *token = nullptr;
    std::int64_t expires_on = 0;
    detail::check(dsapi_client_acquire_token(handle_.get(), detail::terminated(scopes).c_str(),
                                             options.empty() ? nullptr : options.c_str(), &token,
                                             &expires_on));
    return Token{std::string(detail::OwnedString(token).get()), expires_on};
  }

  // Reloads every AzureAd.ClientCredentials entry from its source now (when a secret store says
  // a credential changed). Each is checked before it replaces the one in use; throws Error
  // (DSAPI_CREDENTIAL_UNAVAILABLE) naming the entries that did not load, which keep theirs.
  void reload_credentials() const { detail::check(dsapi_client_reload_credentials(handle_.get())); }

  // Replaces ClientCredentials[index] with a credential given in memory: a PFX or PEM (chain and
  // key) opened with `password` for a certificate entry, the secret for a ClientSecret entry.
  // Checked first: on failure (Error, DSAPI_CREDENTIAL_UNAVAILABLE) the old one stays in use.
  void set_credential(std::size_t index, const std::vector<std::uint8_t> &data,
                      std::optional<std::string_view> password = std::nullopt) const {
    std::optional<std::string> terminated_password;
    if (password) terminated_password = detail::terminated(*password);
    detail::check(dsapi_client_set_credential(
        handle_.get(), index, data.data(), data.size(),
        terminated_password ? terminated_password->c_str() : nullptr));
  }

  // set_credential with the credential as text (a PEM bundle, a client secret).
  void set_credential(std::size_t index, std::string_view data,
                      std::optional<std::string_view> password = std::nullopt) const {
    set_credential(index, std::vector<std::uint8_t>(data.begin(), data.end()), password);
  }

  // Registers an observer for the client's lifetime. It is called on the calling threads, maybe
  // several at once; an exception it throws is swallowed (it cannot cross the C library). Const,
  // as dsapi_client_add_observer: threads sharing a const Client may register observers.
  void add_observer(Observer observer) const {
    if (!handle_) throw Error(DSAPI_INVALID_ARGUMENT, "add_observer on a moved-from Client");
    auto owned = std::make_unique<Observer>(std::move(observer));
    Observer *target = owned.get();
    {
      // Kept before registering: an event may arrive on another thread as soon as it is.
      std::lock_guard<std::mutex> guard(*observers_lock_);
      observers_->push_back(std::move(owned));
    }
    detail::check(dsapi_client_add_observer(handle_.get(), &Client::deliver, target));
  }

  // The C handle, for functions this header does not wrap. Borrowed.
  const dsapi_client *get() const noexcept { return handle_.get(); }

 private:
  using Handle = std::unique_ptr<dsapi_client, detail::ClientFree>;

  // Takes the handle already owned: if an allocation below throws, the parameter frees it.
  explicit Client(Handle handle)
      : observers_(std::make_unique<std::vector<std::unique_ptr<Observer>>>()),
        observers_lock_(std::make_unique<std::mutex>()),
        handle_(std::move(handle)) {}

  static void deliver(void *user_data, const dsapi_credential_event *event) noexcept {
    try {
      CredentialEvent copy{event->kind,    event->thumbprint, event->subject, event->source,
                           event->protocol, event->api_url,   std::nullopt,   std::nullopt};
      if (event->error != nullptr) {
        copy.error = std::string(event->error);
      }
      if (event->days_left >= 0) {
        copy.days_left = event->days_left;
      }
      (*static_cast<Observer *>(user_data))(copy);
    } catch (...) {
    }
  }

  // Declared first so that they are destroyed last, after the client that calls them. Behind
  // pointers so that a moved Client keeps them where the C library was told they are.
  std::unique_ptr<std::vector<std::unique_ptr<Observer>>> observers_;
  std::unique_ptr<std::mutex> observers_lock_;
  Handle handle_;
};

// Installs the process-wide log callback (messages up to `max_level`), replacing any previous one;
// an empty function removes it. A replaced callback may still be finishing on another thread, so
// every callback installed is kept until the process exits. Exceptions it throws are swallowed.
inline void set_log_callback(std::function<void(dsapi_log_level, std::string_view)> callback,
                             dsapi_log_level max_level = DSAPI_LOG_INFO) {
  using Callback = std::function<void(dsapi_log_level, std::string_view)>;
  static std::mutex installed_lock;
  static std::vector<std::unique_ptr<Callback>> installed;
  struct Bridge {
    static void deliver(void *user_data, dsapi_log_level level, const char *message) noexcept {
      try {
        (*static_cast<Callback *>(user_data))(level, std::string_view(message));
      } catch (...) {
      }
    }
  };
  if (!callback) {
    detail::check(dsapi_set_log_callback(nullptr, nullptr, max_level));
    return;
  }
  std::lock_guard<std::mutex> guard(installed_lock);
  installed.push_back(std::make_unique<Callback>(std::move(callback)));
  detail::check(dsapi_set_log_callback(&Bridge::deliver, installed.back().get(), max_level));
}

// The library's version, e.g. "0.1.0".

namespace detail {
// `text` as a JSON string literal: quotes, backslashes and control characters escaped.
inline std::string json_string(std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : text) {
    unsigned char byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += "\\u00";
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

inline std::string agent_overrides(std::string_view agent_app_id, const char *user_field,
                                   std::string_view user) {
  std::string options = "{\"AgentIdentity\":" + json_string(agent_app_id);
  if (user_field != nullptr) options += std::string(",\"") + user_field + "\":" + json_string(user);
  return "{\"AcquireTokenOptions\":" + options + "}}";
}
}  // namespace detail

// Overrides (for Client::call, call_for_user, authorization_header) that make the token an
// Entra agent's: the configured app is the agent's blueprint (Id.Web's WithAgentIdentity).
inline std::string agent_identity(std::string_view agent_app_id) {
  return detail::agent_overrides(agent_app_id, nullptr, {});
}

// Overrides that make the token the agent's user's, named by UPN (Id.Web's
// WithAgentUserIdentity(agent, upn)).
inline std::string agent_user_identity(std::string_view agent_app_id, std::string_view username) {
  return detail::agent_overrides(agent_app_id, "AgentUsername", username);
}

// As agent_user_identity, the user named by object id (WithAgentUserIdentity(agent, Guid)).
inline std::string agent_user_identity_by_id(std::string_view agent_app_id,
                                             std::string_view object_id) {
  return detail::agent_overrides(agent_app_id, "AgentUserId", object_id);
}

inline std::string version() { return std::string(dsapi_version()); }

}  // namespace downstream_api

#endif  // DOWNSTREAM_API_HPP
