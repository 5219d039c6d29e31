// The tests' check for the project's error rule (an error names the file, key or value at fault):
//
//   fracture::test::expect_error([&] { classify_options(c); }, "resnet50");
//   fracture::test::expect_error([&] { load_yolo(...); }, {"b.txt:2:", "class id"});
//
// f() must throw fracture::Error whose message contains every part; a gtest failure otherwise
// (ADD_FAILURE, so the test goes on).
#pragma once
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "fracture/core/error.h"

namespace fracture::test {

template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    std::string want;
    for (const auto& p : parts) want += " '" + p + "'";
    ADD_FAILURE() << "expected fracture::Error containing" << want;
  } catch (const fracture::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

template <class F>
void expect_error(F&& f, const std::string& part) {
  expect_error(std::forward<F>(f), {part});
}

}  // namespace fracture::test
