// Status and StatusOr: how every runtime function reports failure. The runtime uses no
// exceptions, so that nothing can unwind across the C API.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace chitu {

// Mirrors chitu_status in chitu.h (same numeric values).
enum class StatusCode {
  Ok = 0,
  InvalidArgument = 1,
  IoError = 2,
  InvalidArtifact = 3,
  Unsupported = 4,
  DeviceError = 5,
  ShapeMismatch = 6,
  RuntimeError = 7,
  OutOfMemory = 8,
  NotFound = 9,
};

class [[nodiscard]] Status {
public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }

  bool isOk() const { return code_ == StatusCode::Ok; }
  explicit operator bool() const { return isOk(); }
  StatusCode code() const { return code_; }
  const std::string &message() const { return message_; }

  // Prefixes the message with context ("loading model.cbin: ...").
  Status withContext(const std::string &context) const {
    if (isOk())
      return *this;
    return Status(code_, context + ": " + message_);
  }

private:
  StatusCode code_ = StatusCode::Ok;
  std::string message_;
};

template <typename T> class [[nodiscard]] StatusOr {
public:
  StatusOr(T value) : value_(std::move(value)) {}
  StatusOr(Status status) : status_(std::move(status)) {}

  bool isOk() const { return status_.isOk(); }
  const Status &status() const { return status_; }
  T &value() { return *value_; }
  const T &value() const { return *value_; }
  T &operator*() { return *value_; }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }

private:
  Status status_;
  std::optional<T> value_;
};

inline Status invalidArgument(std::string msg) {
  return Status(StatusCode::InvalidArgument, std::move(msg));
}
inline Status invalidArtifact(std::string msg) {
  return Status(StatusCode::InvalidArtifact, std::move(msg));
}
inline Status ioError(std::string msg) { return Status(StatusCode::IoError, std::move(msg)); }
inline Status shapeMismatch(std::string msg) {
  return Status(StatusCode::ShapeMismatch, std::move(msg));
}
inline Status runtimeError(std::string msg) {
  return Status(StatusCode::RuntimeError, std::move(msg));
}

} // namespace chitu

#define CHITU_RETURN_IF_ERROR(expr)                                                                \
  do {                                                                                             \
    ::chitu::Status chitu_status_ = (expr);                                                        \
    if (!chitu_status_.isOk())                                                                     \
      return chitu_status_;                                                                        \
  } while (0)
