// Minimal command-line parsing shared by the runtime tools: `--name value` and
// `--name=value` forms, positional arguments, and one error style.
#pragma once

#include "support/Format.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace chitu::tools {

class Args {
public:
  Args(int argc, char **argv) : tool_(argv[0]) {
    for (int i = 1; i < argc; ++i)
      args_.push_back(argv[i]);
    size_t slash = tool_.find_last_of('/');
    if (slash != std::string::npos)
      tool_ = tool_.substr(slash + 1);
  }

  const std::string &tool() const { return tool_; }
  bool done() const { return pos_ >= args_.size(); }
  const std::string &peek() const { return args_[pos_]; }

  // True if the current argument is the flag `name` (with or without "=value").
  bool isFlag(const std::string &name) const {
    const std::string &a = args_[pos_];
    return a == name || a.rfind(name + "=", 0) == 0;
  }
  // Consumes a boolean flag.
  bool flag(const std::string &name) {
    if (args_[pos_] != name)
      return false;
    ++pos_;
    return true;
  }
  // Consumes `name value` or `name=value`; exits with a usage error if the value is missing.
  bool option(const std::string &name, std::string &value) {
    const std::string &a = args_[pos_];
    if (a == name) {
      if (pos_ + 1 >= args_.size())
        usageError(name + " needs a value");
      value = args_[pos_ + 1];
      pos_ += 2;
      return true;
    }
    if (a.rfind(name + "=", 0) == 0) {
      value = a.substr(name.size() + 1);
      pos_ += 1;
      return true;
    }
    return false;
  }
  std::string next() { return args_[pos_++]; }
  // Consumes the current argument, none of the tool's options, as its one positional argument
  // (the model): a usage error for an unknown option or a second positional argument.
  void positional(std::string &path) {
    if (peek().rfind("-", 0) == 0)
      usageError("unknown option '" + peek() + "'");
    if (!path.empty())
      usageError("unexpected argument '" + peek() + "'");
    path = next();
  }

  // The --device and --device-index values, checked (a usage error otherwise).
  struct Device {
    bool cuda;
    int index;
  };
  Device device(const std::string &name, const std::string &index) const {
    if (name != "cpu" && name != "cuda")
      usageError("--device must be cpu or cuda, got '" + name + "'");
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos ||
        index.size() > 4)
      usageError("--device-index must be a small non-negative integer");
    return {name == "cuda", std::atoi(index.c_str())};
  }

  [[noreturn]] void usageError(const std::string &msg) const {
    std::fprintf(stderr, "%s: error: %s\n(run '%s --help' for usage)\n", tool_.c_str(), msg.c_str(),
                 tool_.c_str());
    std::exit(2);
  }

private:
  std::string tool_;
  std::vector<std::string> args_;
  size_t pos_ = 0;
};

// A size option's bytes (`value` as given after `name`; empty: 0), or a usage error.
inline uint64_t parseSizeOption(const Args &args, const std::string &name,
                                const std::string &value) {
  if (value.empty())
    return 0;
  std::optional<uint64_t> bytes = parseBytes(value);
  if (!bytes || *bytes == 0)
    args.usageError(name + ": '" + value + "' is not a positive size (e.g. 6GiB, 512MiB, 2GB)");
  return *bytes;
}

// The pattern of a --place rule 'PATTERN=cpu' (docs/slicing.md); a usage error otherwise.
inline std::string parsePlacementRule(const Args &args, const std::string &rule) {
  size_t eq = rule.rfind('=');
  if (eq == std::string::npos || eq == 0)
    args.usageError("--place: '" + rule +
                    "' is not PATTERN=cpu (e.g. 'mlp=cpu': the steps reading weights whose "
                    "name matches 'mlp' run on the CPU)");
  if (rule.substr(eq + 1) != "cpu")
    args.usageError("--place: unknown target '" + rule.substr(eq + 1) + "' in '" + rule +
                    "' (the one target is cpu; other steps stay on the GPU)");
  return rule.substr(0, eq);
}

[[noreturn]] inline void fatal(const std::string &tool, const std::string &msg) {
  std::fprintf(stderr, "%s: error: %s\n", tool.c_str(), msg.c_str());
  std::exit(1);
}

} // namespace chitu::tools
