// The C++ layer's test program: every test of raii.cpp, events.cpp and credentials.cpp, then
// "cpp_layer: N passed, M failed" (what tests/cpp_layer checks). Exit 1 when any failed.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common.hpp"

namespace layer {

namespace {
int passed = 0;
int failed = 0;
bool current_ok = true;
}  // namespace

std::string env(const char *name) {
  const char *value = std::getenv(name);
  if (value == nullptr) {
    std::cerr << "missing environment variable " << name << "\n";
    std::exit(2);
  }
  return value;
}

std::string path(const char *name) { return env("DSAPI_TEST_DIR") + "/" + name; }

std::string read_file(const std::string &file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

void expect(bool ok, const std::string &what) {
  if (!ok) {
    current_ok = false;
    std::cout << "  expected: " << what << "\n";
  }
}

std::string expect_error(dsapi_status status, const std::function<void()> &body,
                         const std::string &what) {
  try {
    body();
  } catch (const downstream_api::Error &error) {
    expect(error.status() == status, what + ": status " + error.status_name());
    return error.what();
  }
  expect(false, what + ": no exception");
  return std::string();
}

void run(const char *name, void (*test)()) {
  current_ok = true;
  try {
    test();
  } catch (const std::exception &error) {
    expect(false, std::string("no exception escapes, got: ") + error.what());
  }
  std::cout << (current_ok ? "ok " : "FAIL ") << name << std::endl;
  (current_ok ? passed : failed) += 1;
}

}  // namespace layer

int main() {
  layer::raii_tests();
  layer::event_tests();
  layer::credential_tests();
  std::cout << "cpp_layer: " << layer::passed << " passed, " << layer::failed << " failed"
            << std::endl;
  return layer::failed == 0 ? 0 : 1;
}
