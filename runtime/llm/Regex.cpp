#include "Regex.h"

#include "Unicode.h"

#include <cstring>
#include <functional>
#include <vector>

namespace chitu::regex {

// A class item: a range of code points or a named set.
struct ClassItem {
  enum Kind { Range, Category, Space, Digit, Word } kind = Range;
  char32_t lo = 0, hi = 0;
  std::string category; // "L", "Lu", ...
  bool negated = false; // \P{..}, \S, \D, \W
};

struct Node {
  enum Kind { Alt, Seq, Char, Class, Any, Repeat, Group, Look, Begin, End } kind;
  std::vector<std::shared_ptr<Node>> children;
  char32_t ch = 0;
  std::vector<ClassItem> items;
  bool negated = false; // class [^...], or negative lookahead
  bool ignoreCase = false;
  int min = 0, max = -1; // Repeat; max -1: unbounded
  bool greedy = true;
};

namespace {

using NodePtr = std::shared_ptr<Node>;

char32_t foldCase(char32_t c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7))
    return c + 32;
  return c;
}

bool categoryMatches(const std::string &want, char32_t cp) {
  const char *cat = unicode::category(cp);
  if (want.size() == 1)
    return cat[0] == want[0];
  return want == cat;
}

bool itemMatches(const ClassItem &it, char32_t c, bool ignoreCase) {
  bool m = false;
  switch (it.kind) {
  case ClassItem::Range:
    m = (c >= it.lo && c <= it.hi) ||
        (ignoreCase && foldCase(c) >= foldCase(it.lo) && foldCase(c) <= foldCase(it.hi));
    break;
  case ClassItem::Category:
    m = categoryMatches(it.category, c);
    break;
  case ClassItem::Space:
    m = unicode::isWhiteSpace(c);
    break;
  case ClassItem::Digit:
    m = categoryMatches("Nd", c);
    break;
  case ClassItem::Word: {
    const char *cat = unicode::category(c);
    m = cat[0] == 'L' || cat[0] == 'M' || std::strcmp(cat, "Nd") == 0 ||
        std::strcmp(cat, "Pc") == 0 || c == 0x200C || c == 0x200D;
    break;
  }
  }
  return m != it.negated;
}

class Parser {
public:
  explicit Parser(std::u32string p) : p_(std::move(p)) {}

  StatusOr<NodePtr> parse() {
    auto n = alt(false);
    if (!n.isOk())
      return n;
    if (pos_ != p_.size())
      return error("unbalanced ')'");
    return n;
  }

private:
  Status error(const std::string &what) const {
    return invalidArgument("regex: " + what + " at position " + std::to_string(pos_));
  }
  bool more() const { return pos_ < p_.size(); }
  char32_t peek() const { return p_[pos_]; }
  bool eat(char32_t c) {
    if (more() && p_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  StatusOr<NodePtr> alt(bool ignoreCase) {
    auto node = std::make_shared<Node>();
    node->kind = Node::Alt;
    while (true) {
      auto s = seq(ignoreCase);
      if (!s.isOk())
        return s;
      node->children.push_back(*s);
      if (!eat('|'))
        break;
    }
    if (node->children.size() == 1)
      return node->children[0];
    return NodePtr(node);
  }

  StatusOr<NodePtr> seq(bool ignoreCase) {
    auto node = std::make_shared<Node>();
    node->kind = Node::Seq;
    while (more() && peek() != '|' && peek() != ')') {
      // An inline flag group (?i) applies to the rest of the enclosing group.
      if (p_.compare(pos_, 4, U"(?i)") == 0) {
        pos_ += 4;
        ignoreCase = true;
        continue;
      }
      auto a = atom(ignoreCase);
      if (!a.isOk())
        return a;
      auto r = quantified(*a);
      if (!r.isOk())
        return r;
      node->children.push_back(*r);
    }
    return NodePtr(node);
  }

  StatusOr<int> number() {
    if (!more() || peek() < '0' || peek() > '9')
      return error("expected a number");
    int v = 0;
    while (more() && peek() >= '0' && peek() <= '9') {
      v = v * 10 + int(peek() - '0');
      if (v > 100000)
        return error("repetition count too large");
      ++pos_;
    }
    return v;
  }

  StatusOr<NodePtr> quantified(NodePtr a) {
    while (more()) {
      int min, max;
      char32_t c = peek();
      if (c == '*') {
        min = 0, max = -1;
        ++pos_;
      } else if (c == '+') {
        min = 1, max = -1;
        ++pos_;
      } else if (c == '?') {
        min = 0, max = 1;
        ++pos_;
      } else if (c == '{') {
        ++pos_;
        auto lo = number();
        if (!lo.isOk())
          return lo.status();
        min = *lo;
        max = min;
        if (eat(',')) {
          max = -1;
          if (more() && peek() != '}') {
            auto hi = number();
            if (!hi.isOk())
              return hi.status();
            max = *hi;
          }
        }
        if (!eat('}'))
          return error("expected '}'");
      } else {
        break;
      }
      auto r = std::make_shared<Node>();
      r->kind = Node::Repeat;
      r->min = min;
      r->max = max;
      r->greedy = !eat('?');
      if (eat('+'))
        return error("possessive quantifiers are not supported");
      r->children.push_back(a);
      a = r;
    }
    return a;
  }

  StatusOr<NodePtr> atom(bool ignoreCase) {
    char32_t c = p_[pos_++];
    auto node = std::make_shared<Node>();
    node->ignoreCase = ignoreCase;
    switch (c) {
    case '(': {
      bool lookahead = false, negative = false, caseGroup = ignoreCase;
      if (eat('?')) {
        if (eat(':')) {
        } else if (eat('=')) {
          lookahead = true;
        } else if (eat('!')) {
          lookahead = negative = true;
        } else if (p_.compare(pos_, 2, U"i:") == 0) {
          pos_ += 2;
          caseGroup = true;
        } else {
          return error("unsupported group syntax");
        }
      }
      auto inner = alt(caseGroup);
      if (!inner.isOk())
        return inner;
      if (!eat(')'))
        return error("expected ')'");
      node->kind = lookahead ? Node::Look : Node::Group;
      node->negated = negative;
      node->children.push_back(*inner);
      return NodePtr(node);
    }
    case '[':
      return charClass(node);
    case '.':
      node->kind = Node::Any;
      return NodePtr(node);
    case '^':
      node->kind = Node::Begin;
      return NodePtr(node);
    case '$':
      node->kind = Node::End;
      return NodePtr(node);
    case '\\': {
      ClassItem item;
      auto st = escape(item);
      if (!st.isOk())
        return st;
      if (item.kind == ClassItem::Range && item.lo == item.hi) {
        node->kind = Node::Char;
        node->ch = item.lo;
      } else {
        node->kind = Node::Class;
        node->items.push_back(item);
      }
      return NodePtr(node);
    }
    case ')':
    case '*':
    case '+':
    case '?':
    case '{':
      --pos_;
      return error(std::string("unexpected '") + char(c) + "'");
    default:
      node->kind = Node::Char;
      node->ch = c;
      return NodePtr(node);
    }
  }

  // After a backslash: fills `item` (a single character is a one-point range).
  Status escape(ClassItem &item) {
    if (!more())
      return error("trailing backslash");
    char32_t c = p_[pos_++];
    item = ClassItem();
    auto single = [&](char32_t v) {
      item.kind = ClassItem::Range;
      item.lo = item.hi = v;
      return Status::ok();
    };
    switch (c) {
    case 'n':
      return single('\n');
    case 'r':
      return single('\r');
    case 't':
      return single('\t');
    case 'f':
      return single('\f');
    case 'v':
      return single('\v');
    case '0':
      return single(0);
    case 's':
    case 'S':
      item.kind = ClassItem::Space;
      item.negated = c == 'S';
      return Status::ok();
    case 'd':
    case 'D':
      item.kind = ClassItem::Digit;
      item.negated = c == 'D';
      return Status::ok();
    case 'w':
    case 'W':
      item.kind = ClassItem::Word;
      item.negated = c == 'W';
      return Status::ok();
    case 'p':
    case 'P': {
      item.kind = ClassItem::Category;
      item.negated = c == 'P';
      std::string name;
      if (eat('{')) {
        while (more() && peek() != '}')
          name += char(p_[pos_++]);
        if (!eat('}'))
          return error("expected '}' after \\p{");
      } else if (more()) {
        name = char(p_[pos_++]);
      }
      static const char *kLong[][2] = {{"Letter", "L"},      {"Number", "N"}, {"Mark", "M"},
                                       {"Punctuation", "P"}, {"Symbol", "S"}, {"Separator", "Z"},
                                       {"Other", "C"}};
      for (auto &l : kLong)
        if (name == l[0])
          name = l[1];
      bool ok = (name.size() == 1 && std::strchr("LNMPSZC", name[0])) ||
                (name.size() == 2 && std::strchr("LNMPSZC", name[0]));
      if (!ok)
        return error("unsupported property \\p{" + name + "} (supported: general categories)");
      item.category = name;
      return Status::ok();
    }
    case 'x': {
      std::string hex;
      if (eat('{')) {
        while (more() && peek() != '}')
          hex += char(p_[pos_++]);
        if (!eat('}'))
          return error("expected '}' after \\x{");
      } else {
        for (int k = 0; k < 2 && more(); ++k)
          hex += char(p_[pos_++]);
      }
      if (hex.empty() || hex.size() > 6 ||
          hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
        return error("bad \\x escape");
      return single(char32_t(std::stoul(hex, nullptr, 16)));
    }
    default:
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return error(std::string("unsupported escape \\") + char(c));
      return single(c); // an escaped punctuation character
    }
  }

  StatusOr<NodePtr> charClass(NodePtr node) {
    node->kind = Node::Class;
    node->negated = eat('^');
    bool first = true;
    while (more() && (peek() != ']' || first)) {
      first = false;
      ClassItem item;
      char32_t c = p_[pos_++];
      if (c == '[')
        return error("nested classes are not supported");
      if (c == '\\') {
        CHITU_RETURN_IF_ERROR(escape(item));
      } else {
        item.kind = ClassItem::Range;
        item.lo = item.hi = c;
      }
      if (item.kind == ClassItem::Range && item.lo == item.hi && more() && peek() == '-' &&
          pos_ + 1 < p_.size() && p_[pos_ + 1] != ']') {
        ++pos_;
        char32_t hi = p_[pos_++];
        if (hi == '\\') {
          ClassItem h;
          CHITU_RETURN_IF_ERROR(escape(h));
          if (h.kind != ClassItem::Range)
            return error("bad class range");
          hi = h.lo;
        }
        if (hi < item.lo)
          return error("class range out of order");
        item.hi = hi;
      }
      node->items.push_back(item);
    }
    if (!eat(']'))
      return error("expected ']'");
    return node;
  }

  std::u32string p_;
  size_t pos_ = 0;
};

// Backtracking matcher: match(node, pos, k) tries node at pos and calls the continuation k
// with each end position, leftmost-first, until k accepts.
class Matcher {
public:
  explicit Matcher(const std::u32string &s) : s_(s) {}
  using Cont = std::function<bool(size_t)>;

  bool match(const Node &n, size_t pos, const Cont &k) {
    switch (n.kind) {
    case Node::Alt:
      for (const auto &c : n.children)
        if (match(*c, pos, k))
          return true;
      return false;
    case Node::Seq:
      return seq(n, 0, pos, k);
    case Node::Group:
      return match(*n.children[0], pos, k);
    case Node::Char:
      if (pos < s_.size() &&
          (s_[pos] == n.ch || (n.ignoreCase && foldCase(s_[pos]) == foldCase(n.ch))))
        return k(pos + 1);
      return false;
    case Node::Any:
      return pos < s_.size() && s_[pos] != '\n' && k(pos + 1);
    case Node::Class: {
      if (pos >= s_.size())
        return false;
      bool in = false;
      for (const ClassItem &it : n.items)
        if (itemMatches(it, s_[pos], n.ignoreCase)) {
          in = true;
          break;
        }
      return in != n.negated && k(pos + 1);
    }
    case Node::Look: {
      bool found = match(*n.children[0], pos, [](size_t) { return true; });
      return found != n.negated && k(pos);
    }
    case Node::Begin:
      return pos == 0 && k(pos);
    case Node::End:
      return pos == s_.size() && k(pos);
    case Node::Repeat:
      return repeat(n, 0, pos, k);
    }
    return false;
  }

private:
  bool seq(const Node &n, size_t i, size_t pos, const Cont &k) {
    if (i == n.children.size())
      return k(pos);
    return match(*n.children[i], pos, [&](size_t next) { return seq(n, i + 1, next, k); });
  }

  // Whether a node that consumes exactly one character matches at pos.
  bool oneChar(const Node &n, size_t pos) const {
    if (pos >= s_.size())
      return false;
    char32_t c = s_[pos];
    switch (n.kind) {
    case Node::Char:
      return c == n.ch || (n.ignoreCase && foldCase(c) == foldCase(n.ch));
    case Node::Any:
      return c != '\n';
    case Node::Class:
      for (const ClassItem &it : n.items)
        if (itemMatches(it, c, n.ignoreCase))
          return !n.negated;
      return n.negated;
    default:
      return false;
    }
  }

  bool repeat(const Node &n, int count, size_t pos, const Cont &k) {
    const Node &child = *n.children[0];
    if (count == 0 &&
        (child.kind == Node::Char || child.kind == Node::Any || child.kind == Node::Class)) {
      // A run of single characters (\p{L}+, \s*, ...): count it without recursing, so a long
      // run cannot exhaust the stack, then offer the end positions in preference order.
      size_t run = 0;
      while ((n.max < 0 || run < size_t(n.max)) && oneChar(child, pos + run))
        ++run;
      if (run < size_t(n.min))
        return false;
      if (n.greedy) {
        for (size_t r = run + 1; r-- > size_t(n.min);)
          if (k(pos + r))
            return true;
        return false;
      }
      for (size_t r = size_t(n.min); r <= run; ++r)
        if (k(pos + r))
          return true;
      return false;
    }
    bool canStop = count >= n.min;
    bool canGo = n.max < 0 || count < n.max;
    auto more = [&] {
      return canGo && match(*n.children[0], pos, [&](size_t next) {
               // An empty iteration cannot make progress: stop there.
               return next != pos && repeat(n, count + 1, next, k);
             });
    };
    if (n.greedy)
      return more() || (canStop && k(pos));
    return (canStop && k(pos)) || more();
  }

  const std::u32string &s_;
};

} // namespace

StatusOr<Regex> Regex::compile(std::string_view pattern) {
  Parser parser(unicode::decodeUtf8(pattern));
  auto root = parser.parse();
  if (!root.isOk())
    return root.status();
  Regex r;
  r.root_ = *root;
  return r;
}

std::optional<std::pair<size_t, size_t>> Regex::search(const std::u32string &text,
                                                       size_t from) const {
  Matcher m(text);
  for (size_t start = from; start <= text.size(); ++start) {
    size_t end = 0;
    if (m.match(*root_, start, [&](size_t e) {
          end = e;
          return true;
        }))
      return std::make_pair(start, end);
  }
  return std::nullopt;
}

} // namespace chitu::regex
