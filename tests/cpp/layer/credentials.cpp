// Pushed credentials: set_credential swaps a certificate (PEM text or bytes) or a client secret
// in memory after checking it, a refused one leaves the old one in use, reload_credentials keeps
// the pushed one; every refusal is an Error with its status.
#include <vector>

#include "common.hpp"

using downstream_api::Client;
using downstream_api::CredentialEvent;

namespace layer {
namespace {

void a_pushed_certificate_is_presented() {
  const Client client = Client::from_file(path("good.json"));
  std::string pushed_cn = env("DSAPI_TEST_PUSHED_CN");
  expect(client.call("Orders").text() == "hello " + env("DSAPI_TEST_CLIENT_CN"), "the file's");
  std::vector<std::string> selected;
  client.add_observer([&selected](const CredentialEvent &event) {
    if (event.kind == DSAPI_EVENT_SELECTED) selected.push_back(event.subject);
  });
  std::string pem = read_file(path("pushed.pem"));
  client.set_credential(0, pem);
  expect(client.call("Orders").text() == "hello " + pushed_cn, "the pushed certificate");
  expect(!selected.empty() && contains(selected.back(), pushed_cn), "a Selected event for it");
  // A PEM that does not open: refused with its status, the pushed one stays in use.
  const char *wrong = "Wr0ng-cpp-password";
  std::string refused = expect_error(
      DSAPI_CREDENTIAL_UNAVAILABLE,
      [&] { client.set_credential(0, read_file(path("encrypted.pem")), std::string_view(wrong)); },
      "a wrong password");
  expect(!contains(refused, wrong), "the password is not repeated: " + refused);
  expect(client.call("Orders").text() == "hello " + pushed_cn, "still the pushed one");
  // The pushed certificate replaced the entry's source: a reload keeps it.
  client.reload_credentials();
  expect(client.call("Orders").text() == "hello " + pushed_cn, "kept by reload_credentials");
  std::vector<std::uint8_t> bytes(pem.begin(), pem.end());
  client.set_credential(0, bytes);
  expect(client.call("Orders").status() == 200, "bytes, as a vector");
  expect_error(DSAPI_INVALID_ARGUMENT, [&] { client.set_credential(7, pem); }, "no entry 7");
  expect_error(DSAPI_INVALID_ARGUMENT, [&] { client.set_credential(0, std::string_view()); },
               "nothing to push");
}

void a_pushed_client_secret_is_used() {
  const Client client = Client::from_file(path("bearer.json"));
  const char *refresh = R"({"ForceRefresh": true})";
  client.set_credential(0, "not-the-registered-secret");
  std::string refused = expect_error(
      DSAPI_TOKEN_ACQUISITION_FAILED,
      [&] { client.acquire_token("api://cpp-layer/.default", refresh); },
      "the token endpoint refuses a wrong secret");
  expect(!contains(refused, "not-the-registered-secret"), "the secret is not repeated");
  client.set_credential(0, env("DSAPI_TEST_SECRET"));
  expect(!client.acquire_token("api://cpp-layer/.default", refresh).value.empty(),
         "the right secret pushed back");
  client.reload_credentials();
}

}  // namespace

void credential_tests() {
  run("a pushed certificate is presented", a_pushed_certificate_is_presented);
  run("a pushed client secret is used", a_pushed_client_secret_is_used);
}

}  // namespace layer
