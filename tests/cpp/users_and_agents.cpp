// The C++ layer's calls for users and agents, run by tests/users_and_agents/cpp.rs under
// AddressSanitizer and UndefinedBehaviorSanitizer against the fake Entra endpoint:
//   users_and_agents CONFIG USER_TOKEN_FILE AGENT AGENT_UPN AGENT_OID
// Prints one line per flow ("name: answer"), then the token requests the library counted; the Rust
// test checks them and what the endpoint saw.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "downstream_api.hpp"

namespace {

std::string read_file(const char *path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  std::string content = text.str();
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
  return content;
}

void show(const char *flow, const downstream_api::Response &response) {
  std::cout << flow << ": " << response.status() << " " << response.text() << "\n";
}

// A grant's count in metrics_json() ({"count":N,"grant":"NAME"}: keys in order), or -1.
long grant_count(const std::string &metrics, const std::string &grant) {
  const auto end = metrics.find(",\"grant\":\"" + grant + "\"}");
  if (end == std::string::npos) return -1;
  const auto start = metrics.rfind(':', end) + 1;
  return std::stol(metrics.substr(start, end - start));
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 6) {
    std::cerr << "usage: " << argv[0] << " CONFIG USER_TOKEN_FILE AGENT AGENT_UPN AGENT_OID\n";
    return 2;
  }
  const std::string user_token = read_file(argv[2]);
  const std::string agent = argv[3];
  try {
    const auto client = downstream_api::Client::from_file(argv[1]);
    show("user", client.call_for_user("Graph", user_token));

    // A long-running session: started with the user's token, then named alone.
    const std::string session = R"({"AcquireTokenOptions":{"LongRunningWebApiSessionKey":"cpp-job"}})";
    show("session start", client.call_for_user("Graph", user_token, session));
    show("session", client.call("Graph", session));
    try {
      client.call("Graph", R"({"AcquireTokenOptions":{"LongRunningWebApiSessionKey":"no-such-job"}})");
      std::cout << "unknown session: answered\n";
    } catch (const downstream_api::UserInteractionRequired &error) {
      std::cout << "unknown session: " << error.status_name() << "\n";
    }

    show("agent", client.call("Graph", downstream_api::agent_identity(agent)));
    show("agent user by upn", client.call("Graph", downstream_api::agent_user_identity(agent, argv[4])));
    show("agent user by id",
         client.call("Graph", downstream_api::agent_user_identity_by_id(agent, argv[5])));
    const std::string header =
        client.authorization_header("Graph", downstream_api::agent_identity(agent));
    std::cout << "agent header scheme: " << header.substr(0, header.find(' ')) << "\n";

    // Quotes and control characters in a name are escaped, so the token endpoint refuses an
    // unknown agent rather than the configuration being malformed.
    try {
      client.call("Graph", downstream_api::agent_identity("quote\"and\nnewline"));
      std::cout << "odd agent: answered\n";
    } catch (const downstream_api::Error &error) {
      std::cout << "odd agent: " << error.status_name() << "\n";
    }

    // The web API validates its caller's token first; the claims come back as JSON.
    const std::string claims = client.validate_token(user_token);
    const bool alice = claims.find("\"oid\":\"alice-oid\"") != std::string::npos;
    std::cout << "validated: " << (alice ? "alice" : claims) << "\n";
    try {
      client.validate_token("not.a.token");
      std::cout << "malformed: accepted\n";
    } catch (const downstream_api::TokenInvalid &error) {
      std::cout << "malformed: " << error.status_name() << "\n";
    }

    // The token requests above, by grant: this process's counters are this program's.
    const std::string metrics = client.metrics_json();
    std::cout << "metrics:";
    for (const char *grant : {"on_behalf_of", "client_credentials_fmi", "agent_client_credentials", "user_fic"}) {
      std::cout << " " << grant << " " << grant_count(metrics, grant);
    }
    std::cout << "\n";
  } catch (const downstream_api::Error &error) {
    std::cerr << error.status_name() << ": " << error.what() << "\n";
    return 1;
  }
  return 0;
}
