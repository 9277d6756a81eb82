// Shared by the C++ layer's test program (tests/cpp_layer runs it under ASan/UBSan): the inputs
// the Rust side wrote, and the checks. Inputs, from the environment:
//   DSAPI_TEST_DIR       good.json (Orders: mTLS hello server; Rejecting: a server trusting another
//                        CA; Plain: http://), expiring.json (Orders with a certificate expiring in
//                        3 days), bearer.json (Resource: a Bearer API, client secret),
//                        malformed.json, pushed.pem, encrypted.pem
//   DSAPI_TEST_CLIENT_CN, DSAPI_TEST_PUSHED_CN, DSAPI_TEST_EXPIRING_CN, DSAPI_TEST_SECRET
#ifndef CPP_LAYER_COMMON_HPP
#define CPP_LAYER_COMMON_HPP

#include <functional>
#include <string>

#include "downstream_api.hpp"

namespace layer {

std::string env(const char *name);
// $DSAPI_TEST_DIR/name
std::string path(const char *name);
std::string read_file(const std::string &file);

// Records a failed expectation of the running test (and prints it); the test goes on.
void expect(bool ok, const std::string &what);

// Runs `body`, which must throw downstream_api::Error with `status`; returns its what().
std::string expect_error(dsapi_status status, const std::function<void()> &body,
                         const std::string &what);

bool contains(const std::string &text, const std::string &part);

// Each file's tests, run by main.cpp.
void raii_tests();
void event_tests();
void credential_tests();

// Runs one named test: prints "ok NAME" or "FAIL NAME", counts it.
void run(const char *name, void (*test)());

}  // namespace layer

#endif
