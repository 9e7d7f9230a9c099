// A small JSON reader and writer: safetensors headers, test manifests, tokenizer and model
// configs (later), and the tools' --json output. Parsing never throws or aborts: errors come
// back as a Status with the byte offset.
#pragma once

#include "Status.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chitu {

class JsonValue {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  JsonValue() = default;
  static JsonValue makeBool(bool b);
  static JsonValue makeNumber(double d, bool isInteger, int64_t integer);
  static JsonValue makeString(std::string s);
  static JsonValue makeArray(std::vector<JsonValue> items);
  static JsonValue makeObject(std::vector<std::pair<std::string, JsonValue>> members);

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::Null; }
  bool isBool() const { return kind_ == Kind::Bool; }
  bool isNumber() const { return kind_ == Kind::Number; }
  bool isString() const { return kind_ == Kind::String; }
  bool isArray() const { return kind_ == Kind::Array; }
  bool isObject() const { return kind_ == Kind::Object; }
  // A number written without fraction or exponent that fits in int64.
  bool isInteger() const { return kind_ == Kind::Number && isInteger_; }

  bool asBool() const { return bool_; }
  double asDouble() const { return number_; }
  int64_t asInt() const { return integer_; }
  const std::string &asString() const { return string_; }
  const std::vector<JsonValue> &items() const { return items_; }
  const std::vector<std::pair<std::string, JsonValue>> &members() const { return members_; }
  // Member lookup; nullptr when absent or not an object.
  const JsonValue *find(std::string_view key) const;

private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  bool isInteger_ = false;
  double number_ = 0;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Parses a complete JSON document (trailing whitespace only). Nesting deeper than 256 is
// refused rather than risking the stack.
StatusOr<JsonValue> parseJson(std::string_view text);

// Escapes a string as a JSON string literal, quotes included.
std::string jsonQuote(std::string_view s);

// Streaming writer for the tools' --json output.
class JsonWriter {
public:
  explicit JsonWriter(bool pretty = true) : pretty_(pretty) {}
  JsonWriter &beginObject();
  JsonWriter &endObject();
  JsonWriter &beginArray();
  JsonWriter &endArray();
  JsonWriter &key(std::string_view k);
  JsonWriter &value(std::string_view s);
  JsonWriter &value(const char *s) { return value(std::string_view(s)); }
  JsonWriter &value(int64_t v);
  JsonWriter &value(uint64_t v);
  JsonWriter &value(int v) { return value(int64_t(v)); }
  JsonWriter &value(unsigned v) { return value(uint64_t(v)); }
  JsonWriter &value(double v);
  JsonWriter &value(bool v);
  JsonWriter &null();
  const std::string &str() const { return out_; }

private:
  void beforeValue();
  void newline();
  std::string out_;
  std::vector<bool> hasItems_; // per open container
  bool afterKey_ = false;
  bool pretty_;
};

} // namespace chitu
