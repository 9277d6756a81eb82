// Calls one API of an appsettings.json through the C++ layer and prints the answer and the
// credential events; an unknown API shows how a failure arrives:
//
//   call appsettings.json Orders
//
// Exit status: 0 when a response came back, 1 when a call failed.
#include <atomic>
#include <cstdio>
#include <iostream>

#include <downstream_api.hpp>

int main(int argc, char **argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " appsettings.json API\n";
    return 2;
  }
  try {
    auto client = downstream_api::Client::from_file(argv[1]);
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
      if (error.status() != DSAPI_UNKNOWN_API) return 1;
    }
    return events > 0 ? 0 : 1;
  } catch (const downstream_api::Error &error) {
    std::cerr << error.what() << "\n";
    return 1;
  }
}
