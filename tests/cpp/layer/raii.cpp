// RAII and exceptions: every failure throws downstream_api::Error carrying the status and the
// library's message; handles are freed on every path (ASan's leak check ends the program), moved
// owners free once; strings the library returns are owned copies.
#include <ctime>
#include <optional>
#include <utility>
#include <vector>

#include "common.hpp"

using downstream_api::Client;
using downstream_api::Error;
using downstream_api::Response;

namespace layer {
namespace {

void exceptions_carry_the_status_and_the_message() {
  std::string missing = expect_error(
      DSAPI_IO_ERROR, [] { Client::from_file(path("missing.json")); }, "a missing file");
  expect(contains(missing, "DSAPI_IO_ERROR: ") && contains(missing, "missing.json"),
         "the status name and the file in what(): " + missing);
  expect_error(DSAPI_CONFIG_INVALID, [] { Client::from_file(path("malformed.json")); },
               "malformed JSON");
  expect_error(DSAPI_CONFIG_INVALID, [] { Client::from_json("{\"DownstreamApis\": 5}"); },
               "a section of the wrong type");
  const Client client = Client::from_file(path("good.json"));
  std::string unknown = expect_error(
      DSAPI_UNKNOWN_API, [&] { client.call("NoSuchApi"); }, "an unknown API");
  expect(contains(unknown, "NoSuchApi"), "the API named: " + unknown);
  expect_error(DSAPI_INSECURE_URL, [&] { client.call("Plain"); }, "a certificate over http://");
  expect_error(DSAPI_CONFIG_INVALID, [&] { client.call("Orders", "{"); }, "bad overrides");
  expect_error(DSAPI_CERTIFICATE_REJECTED, [&] { client.call("Rejecting"); },
               "a server refusing the certificate");
  // An Error is a std::runtime_error, copies without throwing, and has no claims.
  try {
    client.call("NoSuchApi");
  } catch (const std::runtime_error &error) {
    const Error *typed = dynamic_cast<const Error *>(&error);
    expect(typed != nullptr, "an Error caught as std::runtime_error");
    if (typed != nullptr) {
      Error copy = *typed;
      expect(copy.status() == DSAPI_UNKNOWN_API && copy.claims().empty(), "a copy keeps status");
      expect(std::string(copy.status_name()) == "DSAPI_UNKNOWN_API", "status_name()");
    }
  }
}

void responses_of_any_status() {
  const Client client = Client::from_file(path("good.json"));
  Response ok = client.call("Orders");
  expect(ok.status() == 200, "200");
  expect(ok.text() == "hello " + env("DSAPI_TEST_CLIENT_CN"), "the body: " + std::string(ok.text()));
  std::vector<std::uint8_t> body = ok.body();
  expect(std::string(body.begin(), body.end()) == ok.text(), "body() and text() agree");
  expect(ok.header("X-LAYER") == std::optional<std::string>("cpp"), "a header, any case");
  expect(!ok.header("X-Absent").has_value(), "an absent header is nullopt");
  bool listed = false;
  for (const auto &header : ok.headers()) listed = listed || header.first == "x-layer";
  expect(listed, "headers() lists it in lower case");
  expect(ok.method() == "GET" && contains(std::string(ok.url()), "/api/orders"),
         "the request: " + std::string(ok.method()) + " " + std::string(ok.url()));
  Response missing = client.call("Orders", R"({"RelativePath": "status/404"})");
  expect(missing.status() == 404, "a 404 is a response, not an exception");
  Response posted = client.call("Orders", R"({"HttpMethod": "POST"})", "{\"id\": 42}");
  expect(posted.status() == 200 && posted.method() == "POST", "a POST with a body");
}

void owners_free_on_every_path() {
  std::optional<Response> kept;
  for (int round = 0; round < 50; ++round) {
    Client client = Client::from_file(path("good.json"));
    Client moved = std::move(client);  // the moved-from owner frees nothing
    expect_error(DSAPI_INVALID_ARGUMENT, [&] { client.add_observer([](const auto &) {}); },
                 "a moved-from Client refuses observers");
    Response response = moved.call("Orders");
    Response taken = std::move(response);
    try {
      moved.call("NoSuchApi");  // thrown between two owned handles
    } catch (const Error &) {
    }
    kept.emplace(std::move(taken));  // outlives the client that made it
  }
  expect(kept && kept->status() == 200, "a response outlives its client");
  kept.reset();
}

void owned_strings() {
  const Client client = Client::from_file(path("bearer.json"));
  std::string header = client.authorization_header("Resource");
  expect(header.rfind("Bearer ", 0) == 0, "a Bearer header");
  downstream_api::Token token = client.acquire_token("api://cpp-layer/.default");
  expect(!token.value.empty() && token.expires_on > std::time(nullptr), "a token and its expiry");
  expect(client.call("Resource").status() == 200, "the Bearer API answers 200");
  expect(contains(client.describe_credentials(), "\"clientSecret\""), "describe_credentials()");
  expect(contains(client.metrics_json(), "\"tokenRequests\""), "metrics_json()");
  expect(contains(client.api_options("Resource"), "\"BaseUrl\""), "api_options()");
  expect(downstream_api::version() == dsapi_version(), "version()");
  std::string refused = expect_error(
      DSAPI_TOKEN_INVALID, [&] { client.validate_token("not.a.token"); }, "a malformed token");
  try {
    client.validate_token("not.a.token");
  } catch (const downstream_api::TokenInvalid &error) {
    expect(error.status() == DSAPI_TOKEN_INVALID, "thrown as TokenInvalid");
  }
  expect(!contains(refused, "not.a.token"), "the token is not repeated: " + refused);
}

}  // namespace

void raii_tests() {
  run("exceptions carry the status and the message", exceptions_carry_the_status_and_the_message);
  run("responses of any status", responses_of_any_status);
  run("owners free on every path", owners_free_on_every_path);
  run("owned strings: header, token, JSON", owned_strings);
}

}  // namespace layer
