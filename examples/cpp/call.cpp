// Calls one API of an appsettings.json through the C++ layer and prints the answer and the
// credential events; an unknown API shows how a failure arrives:
//
//   call appsettings.json Orders
//
// With a third argument, a file holding the access token a web API received from its caller, the
// call is made on behalf of that user (on-behalf-of); when Entra ID needs the user to act (MFA,
// consent), the claims challenge is printed to stderr:
//
//   call appsettings.json Graph user-token.txt
//
// Exit status: 0 when a response came back, 1 when a call failed, 3 when the user must act.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <downstream_api.hpp>

namespace {

// The token in `path`, without the line end a text editor adds. A secret: never printed.
std::string read_token(const char *path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  std::string token = text.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

int call_for_user(const downstream_api::Client &client, const char *api, const char *token_path) {
  std::string token = read_token(token_path);
  try {
    downstream_api::Response response = client.call_for_user(api, token);
    std::cout << "HTTP " << response.status() << ": " << response.text() << "\n";
    // The header of the same call, a secret: only its scheme is shown.
    std::string header = client.authorization_header_for_user(api, token);
    std::cerr << "header scheme: " << header.substr(0, header.find(' ')) << "\n";
    return 0;
  } catch (const downstream_api::UserInteractionRequired &error) {
    // A web API answers its caller with this challenge (WWW-Authenticate or a 403 body).
    std::cerr << "user interaction required: " << error.what() << "\nclaims: " << error.claims()
              << "\n";
    return 3;
  }
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) {
    std::cerr << "usage: " << argv[0] << " appsettings.json API [USER_TOKEN_FILE]\n";
    return 2;
  }
  try {
    auto client = downstream_api::Client::from_file(argv[1]);
    if (argc == 4) return call_for_user(client, argv[2], argv[3]);
    std::atomic<int> events{0};
    client.add_observer([&events](const downstream_api::CredentialEvent &event) {
      events++;
      std::cerr << "event " << event.kind << ": " << event.subject << " (" << event.source << ")\n";
    });
    downstream_api::Response response = client.call(argv[2]);
    std::cout << "HTTP " << response.status() << ": " << response.text() << "\n";
    std::cerr << "request: " << response.method() << " " << response.url() << "\n";
    std::cerr << "options: " << client.api_options(argv[2]) << "\n";
    // What a health endpoint would show: each credential, and which one the call selected.
    std::cerr << "credentials: " << client.describe_credentials() << "\n";
    try {
      client.call("NoSuchApi");
      std::cerr << "an unknown API succeeded\n";
      return 1;
    } catch (const downstream_api::Error &error) {
      std::cerr << "expected: " << error.status_name() << "\n";
      if (error.status() != DSAPI_UNKNOWN_API || !error.claims().empty()) return 1;
    }
    return events > 0 ? 0 : 1;
  } catch (const downstream_api::Error &error) {
    std::cerr << error.what() << "\n";
    return 1;
  }
}
