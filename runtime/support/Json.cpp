#include "Json.h"

#include "Utf8.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace chitu {

JsonValue JsonValue::makeBool(bool b) {
  JsonValue v;
  v.kind_ = Kind::Bool;
  v.bool_ = b;
  return v;
}
JsonValue JsonValue::makeNumber(double d, bool isInteger, int64_t integer) {
  JsonValue v;
  v.kind_ = Kind::Number;
  v.number_ = d;
  v.isInteger_ = isInteger;
  v.integer_ = integer;
  return v;
}
JsonValue JsonValue::makeString(std::string s) {
  JsonValue v;
  v.kind_ = Kind::String;
  v.string_ = std::move(s);
  return v;
}
JsonValue JsonValue::makeArray(std::vector<JsonValue> items) {
  JsonValue v;
  v.kind_ = Kind::Array;
  v.items_ = std::move(items);
  return v;
}
JsonValue JsonValue::makeObject(std::vector<std::pair<std::string, JsonValue>> members) {
  JsonValue v;
  v.kind_ = Kind::Object;
  v.members_ = std::move(members);
  return v;
}

const JsonValue *JsonValue::find(std::string_view key) const {
  if (kind_ != Kind::Object)
    return nullptr;
  for (const auto &m : members_)
    if (m.first == key)
      return &m.second;
  return nullptr;
}

namespace {

class Parser {
public:
  explicit Parser(std::string_view text) : s_(text) {}

  StatusOr<JsonValue> parseDocument() {
    JsonValue v;
    CHITU_RETURN_IF_ERROR(parseValue(v, 0));
    skipSpace();
    if (pos_ != s_.size())
      return error("unexpected text after the JSON value");
    return v;
  }

private:
  Status error(const std::string &what) const {
    return invalidArgument("JSON: " + what + " at byte " + std::to_string(pos_));
  }

  void skipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool consume(std::string_view word) {
    if (s_.substr(pos_, word.size()) == word) {
      pos_ += word.size();
      return true;
    }
    return false;
  }

  Status parseValue(JsonValue &out, int depth) {
    if (depth > 256)
      return error("nesting too deep");
    skipSpace();
    if (pos_ >= s_.size())
      return error("unexpected end of input");
    char c = s_[pos_];
    if (c == '{')
      return parseObject(out, depth);
    if (c == '[')
      return parseArray(out, depth);
    if (c == '"') {
      std::string str;
      CHITU_RETURN_IF_ERROR(parseString(str));
      out = JsonValue::makeString(std::move(str));
      return Status::ok();
    }
    if (consume("true")) {
      out = JsonValue::makeBool(true);
      return Status::ok();
    }
    if (consume("false")) {
      out = JsonValue::makeBool(false);
      return Status::ok();
    }
    if (consume("null")) {
      out = JsonValue();
      return Status::ok();
    }
    if (c == '-' || (c >= '0' && c <= '9'))
      return parseNumber(out);
    return error(std::string("unexpected character '") + c + "'");
  }

  Status parseObject(JsonValue &out, int depth) {
    ++pos_; // {
    std::vector<std::pair<std::string, JsonValue>> members;
    skipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      out = JsonValue::makeObject(std::move(members));
      return Status::ok();
    }
    while (true) {
      skipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"')
        return error("expected a string key");
      std::string key;
      CHITU_RETURN_IF_ERROR(parseString(key));
      skipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':')
        return error("expected ':'");
      ++pos_;
      JsonValue v;
      CHITU_RETURN_IF_ERROR(parseValue(v, depth + 1));
      members.emplace_back(std::move(key), std::move(v));
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        break;
      }
      return error("expected ',' or '}'");
    }
    out = JsonValue::makeObject(std::move(members));
    return Status::ok();
  }

  Status parseArray(JsonValue &out, int depth) {
    ++pos_; // [
    std::vector<JsonValue> items;
    skipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      out = JsonValue::makeArray(std::move(items));
      return Status::ok();
    }
    while (true) {
      JsonValue v;
      CHITU_RETURN_IF_ERROR(parseValue(v, depth + 1));
      items.push_back(std::move(v));
      skipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        break;
      }
      return error("expected ',' or ']'");
    }
    out = JsonValue::makeArray(std::move(items));
    return Status::ok();
  }

  Status parseHex4(uint32_t &cp) {
    if (pos_ + 4 > s_.size())
      return error("truncated \\u escape");
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9')
        cp |= uint32_t(h - '0');
      else if (h >= 'a' && h <= 'f')
        cp |= uint32_t(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        cp |= uint32_t(h - 'A' + 10);
      else
        return error("bad hex digit in \\u escape");
    }
    return Status::ok();
  }

  Status parseString(std::string &out) {
    ++pos_; // "
    while (true) {
      if (pos_ >= s_.size())
        return error("unterminated string");
      char c = s_[pos_++];
      if (c == '"')
        return Status::ok();
      if (static_cast<unsigned char>(c) < 0x20)
        return error("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size())
        return error("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '/':
        out += '/';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        uint32_t cp;
        CHITU_RETURN_IF_ERROR(parseHex4(cp));
        if (cp >= 0xd800 && cp < 0xdc00) { // high surrogate: expect a low one
          uint32_t low = 0;
          if (consume("\\u")) {
            CHITU_RETURN_IF_ERROR(parseHex4(low));
          }
          if (low >= 0xdc00 && low < 0xe000)
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          else
            cp = 0xfffd; // lone surrogate
        } else if (cp >= 0xdc00 && cp < 0xe000) {
          cp = 0xfffd;
        }
        appendUtf8(out, char32_t(cp));
        break;
      }
      default:
        return error(std::string("bad escape '\\") + e + "'");
      }
    }
  }

  Status parseNumber(JsonValue &out) {
    size_t start = pos_;
    bool integral = true;
    if (s_[pos_] == '-')
      ++pos_;
    auto digits = [&] {
      size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9')
        ++pos_;
      return pos_ - d;
    };
    if (digits() == 0)
      return error("bad number");
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (digits() == 0)
        return error("bad number");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-'))
        ++pos_;
      if (digits() == 0)
        return error("bad number");
    }
    std::string text(s_.substr(start, pos_ - start));
    double d = std::strtod(text.c_str(), nullptr);
    int64_t i = 0;
    if (integral) {
      errno = 0;
      long long v = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE)
        integral = false;
      else
        i = v;
    }
    out = JsonValue::makeNumber(d, integral, i);
    return Status::ok();
  }

  std::string_view s_;
  size_t pos_ = 0;
};

} // namespace

StatusOr<JsonValue> parseJson(std::string_view text) { return Parser(text).parseDocument(); }

std::string jsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += c;
      }
    }
  }
  out += '"';
  return out;
}

void JsonWriter::newline() {
  if (!pretty_)
    return;
  out_ += '\n';
  out_.append(hasItems_.size() * 2, ' ');
}

void JsonWriter::beforeValue() {
  if (afterKey_) {
    afterKey_ = false;
    return;
  }
  if (!hasItems_.empty()) {
    if (hasItems_.back())
      out_ += ',';
    hasItems_.back() = true;
    newline();
  }
}

JsonWriter &JsonWriter::beginObject() {
  beforeValue();
  out_ += '{';
  hasItems_.push_back(false);
  return *this;
}
JsonWriter &JsonWriter::endObject() {
  bool had = hasItems_.back();
  hasItems_.pop_back();
  if (had)
    newline();
  out_ += '}';
  return *this;
}
JsonWriter &JsonWriter::beginArray() {
  beforeValue();
  out_ += '[';
  hasItems_.push_back(false);
  return *this;
}
JsonWriter &JsonWriter::endArray() {
  bool had = hasItems_.back();
  hasItems_.pop_back();
  if (had)
    newline();
  out_ += ']';
  return *this;
}
JsonWriter &JsonWriter::key(std::string_view k) {
  beforeValue();
  out_ += jsonQuote(k);
  out_ += pretty_ ? ": " : ":";
  afterKey_ = true;
  return *this;
}
JsonWriter &JsonWriter::value(std::string_view s) {
  beforeValue();
  out_ += jsonQuote(s);
  return *this;
}
JsonWriter &JsonWriter::value(int64_t v) {
  beforeValue();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter &JsonWriter::value(uint64_t v) {
  beforeValue();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter &JsonWriter::value(double v) {
  beforeValue();
  if (!std::isfinite(v)) {
    out_ += "null";
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out_ += buf;
  }
  return *this;
}
JsonWriter &JsonWriter::value(bool v) {
  beforeValue();
  out_ += v ? "true" : "false";
  return *this;
}
JsonWriter &JsonWriter::null() {
  beforeValue();
  out_ += "null";
  return *this;
}

} // namespace chitu
