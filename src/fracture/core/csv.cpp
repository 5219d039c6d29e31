#include "fracture/core/csv.h"

#include <cstdio>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"

namespace fracture::csv {

std::string field(std::string_view s, bool always_quote) {
  // a field starting with a UTF-8 byte order mark is quoted: unquoted at the start of a file, the
  // reader would take the mark for the file's and drop it
  if (!always_quote && s.find_first_of(",\"\r\n") == std::string_view::npos && s.substr(0, 3) != "\xEF\xBB\xBF")
    return std::string(s);
  std::string q = "\"";
  for (char ch : s) {
    if (ch == '"') q += '"';
    q += ch;
  }
  return q + "\"";
}

std::string line(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += field(fields[i]);
  }
  return out + "\n";
}

std::string number(double v, int significant) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", significant, v);
  return buf;
}

std::vector<Record> parse(std::string_view text, const std::string& origin, bool trim_unquoted) {
  std::vector<Record> out;
  size_t i = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // UTF-8 byte order mark
  int line_no = 1;
  while (i < text.size()) {
    Record rec;
    rec.line = line_no;
    std::string f;
    bool in_quotes = false, quoted = false, end = false;
    auto finish_field = [&] {
      rec.fields.push_back(quoted || !trim_unquoted ? f : trim(f));
      f.clear();
      quoted = false;
    };
    while (!end) {
      if (i >= text.size()) {
        FRACTURE_CHECK(!in_quotes, origin, ":", rec.line, ": unterminated quoted field");
        finish_field();
        break;
      }
      const char c = text[i++];
      if (in_quotes) {
        if (c == '"') {
          if (i < text.size() && text[i] == '"') {
            f += '"';
            ++i;
          } else {
            in_quotes = false;
          }
        } else {
          if (c == '\n') ++line_no;
          f += c;
        }
      } else if (c == '"') {
        FRACTURE_CHECK(trim(f).empty(), origin, ":", line_no, ": quote inside an unquoted field");
        f.clear();
        in_quotes = quoted = true;
      } else if (c == ',') {
        finish_field();
      } else if (c == '\n' || c == '\r') {
        if (c == '\r' && i < text.size() && text[i] == '\n') ++i;
        ++line_no;
        finish_field();
        end = true;
      } else {
        f += c;
      }
    }
    const bool blank = rec.fields.size() == 1 && rec.fields[0].empty();
    if (!blank) out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace fracture::csv
