// Observers and the log callback: observers registered on a const Client from several threads,
// each event copied out with its fields (error only when deselected, days_left only when expiring
// soon), exceptions thrown by callbacks swallowed, the log callback replaced and removed.
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "common.hpp"

using downstream_api::Client;
using downstream_api::CredentialEvent;

namespace layer {
namespace {

// Events of one observer, kept under a lock (they arrive on the calling threads).
struct Seen {
  std::mutex lock;
  std::vector<CredentialEvent> events;

  void add(const CredentialEvent &event) {
    std::lock_guard<std::mutex> guard(lock);
    events.push_back(event);
  }
  std::vector<CredentialEvent> of(dsapi_event_kind kind) {
    std::lock_guard<std::mutex> guard(lock);
    std::vector<CredentialEvent> found;
    for (const auto &event : events)
      if (event.kind == kind) found.push_back(event);
    return found;
  }
};

void observers_on_a_shared_const_client() {
  const Client client = Client::from_file(path("good.json"));
  constexpr int threads = 4;
  constexpr int calls = 5;
  std::vector<Seen> seen(threads);
  std::atomic<int> thrown{0};
  // Const member functions from several threads at once: register, then call.
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    client.add_observer([&seen, t](const CredentialEvent &event) { seen[t].add(event); });
  }
  client.add_observer([&thrown](const CredentialEvent &) {
    thrown++;
    throw std::runtime_error("an observer's exception stays in the observer");
  });
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&client] {
      for (int n = 0; n < calls; ++n) client.call("Orders");
    });
  }
  for (auto &worker : workers) worker.join();
  for (auto &one : seen) {
    auto selected = one.of(DSAPI_EVENT_SELECTED);
    auto used = one.of(DSAPI_EVENT_SUCCESSFULLY_USED);
    expect(selected.size() == 1, "Selected once per observer: " + std::to_string(selected.size()));
    expect(used.size() == threads * calls, "SuccessfullyUsed per call: " + std::to_string(used.size()));
    if (!selected.empty()) {
      const CredentialEvent &event = selected[0];
      expect(contains(event.subject, env("DSAPI_TEST_CLIENT_CN")), "subject: " + event.subject);
      expect(event.thumbprint.size() == 40, "a SHA-1 thumbprint: " + event.thumbprint);
      expect(contains(event.source, "ClientCredentials[0]"), "source: " + event.source);
      expect(event.protocol == "MTLS" && contains(event.api_url, "127.0.0.1"), "protocol, URL");
      expect(!event.error && !event.days_left, "no error, no days_left");
    }
  }
  expect(thrown.load() > threads * calls, "the throwing observer was called every time");
}

void deselected_carries_the_error() {
  const Client client = Client::from_file(path("good.json"));
  Seen seen;
  client.add_observer([&seen](const CredentialEvent &event) { seen.add(event); });
  expect_error(DSAPI_CERTIFICATE_REJECTED, [&] { client.call("Rejecting"); }, "rejected");
  auto deselected = seen.of(DSAPI_EVENT_DESELECTED);
  expect(!deselected.empty(), "a Deselected event");
  if (!deselected.empty()) {
    expect(deselected[0].error.has_value() && !deselected[0].error->empty(), "with its error");
  }
}

void expiring_soon_has_days_left() {
  const Client client = Client::from_file(path("expiring.json"));
  Seen seen;
  client.add_observer([&seen](const CredentialEvent &event) { seen.add(event); });
  for (int n = 0; n < 3; ++n) client.call("Orders");
  auto expiring = seen.of(DSAPI_EVENT_EXPIRING_SOON);
  expect(expiring.size() == 1, "ExpiringSoon once a day: " + std::to_string(expiring.size()));
  if (!expiring.empty()) {
    const CredentialEvent &event = expiring[0];
    expect(event.days_left && (*event.days_left == 2 || *event.days_left == 3),
           "2 or 3 days left: " + std::to_string(event.days_left.value_or(-1)));
    expect(contains(event.subject, env("DSAPI_TEST_EXPIRING_CN")), "subject: " + event.subject);
  }
  for (const auto &event : seen.of(DSAPI_EVENT_SUCCESSFULLY_USED)) {
    expect(!event.days_left, "days_left only with ExpiringSoon");
  }
}

void the_log_callback_is_replaced_and_removed() {
  std::mutex lock;
  std::vector<std::string> first, second;
  std::atomic<int> thrown{0};
  downstream_api::set_log_callback(
      [&](dsapi_log_level, std::string_view message) {
        std::lock_guard<std::mutex> guard(lock);
        first.emplace_back(message);
      },
      DSAPI_LOG_DEBUG);
  const Client bearer = Client::from_file(path("bearer.json"));
  bearer.call("Resource");
  bearer.acquire_token("api://cpp-layer/.default", R"({"ForceRefresh": true})");
  downstream_api::set_log_callback(
      [&](dsapi_log_level level, std::string_view message) {
        std::lock_guard<std::mutex> guard(lock);
        second.emplace_back(message);
        if (level == DSAPI_LOG_DEBUG) {
          thrown++;
          throw std::runtime_error("a log callback's exception stays in it");
        }
      },
      DSAPI_LOG_DEBUG);
  std::size_t first_count = first.size();
  Client::from_file(path("good.json")).call("Orders");
  downstream_api::set_log_callback({});
  std::size_t second_count = second.size();
  Client::from_file(path("good.json")).call("Orders");
  std::lock_guard<std::mutex> guard(lock);
  expect(first_count > 0 && first.size() == first_count, "the first callback, then no more");
  expect(second_count > 0 && second.size() == second_count, "the second, until removed");
  expect(thrown.load() > 0, "its exceptions were swallowed");
  for (const auto &message : first) {
    expect(!contains(message, env("DSAPI_TEST_SECRET")), "no secret logged: " + message);
  }
}

}  // namespace

void event_tests() {
  run("observers on a shared const client", observers_on_a_shared_const_client);
  run("Deselected carries the error", deselected_carries_the_error);
  run("ExpiringSoon has days_left", expiring_soon_has_days_left);
  run("the log callback is replaced and removed", the_log_callback_is_replaced_and_removed);
}

}  // namespace layer
