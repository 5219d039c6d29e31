// The one CSV reader and writer of the project (RFC 4180): every CSV a run writes (splits.csv,
// results.csv, predictions.csv, the study tables, detection metrics) and every CSV a user gives us
// (classification manifests) goes through here.
//
//   std::string text = fracture::csv::line({"image", "label"}) + fracture::csv::line({"a,b.png", "1"});
//   // "image,label\n\"a,b.png\",1\n"
//   for (const fracture::csv::Record& r : fracture::csv::parse(text, "manifest.csv"))
//     std::printf("line %d: %zu fields\n", r.line, r.fields.size());
//   std::string v = fracture::csv::number(0.1, 9);   // "0.1" (printf %.9g)
//
// Reading: fields separated by commas; a field may be quoted ("...") and then hold commas, doubled
// quotes ("") and line breaks; records end at LF or CRLF; a UTF-8 byte order mark is skipped; blank
// lines are skipped. Errors (an unterminated quote, a quote inside an unquoted field) throw
// fracture::Error naming origin:line.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace fracture::csv {

/// `s` as one CSV field: unchanged unless it holds a comma, quote, CR or LF (or `always_quote`);
/// then quoted with inner quotes doubled.
std::string field(std::string_view s, bool always_quote = false);

/// The fields as one record: each through field(), joined by commas, ending in "\n".
std::string line(const std::vector<std::string>& fields);

/// printf("%.<significant>g", v): the number formatting of our CSV files.
std::string number(double v, int significant = 17);

/// One record and the 1-based line it starts on.
struct Record {
  int line = 0;
  std::vector<std::string> fields;
};

/// Parses CSV text. `trim_unquoted`: spaces and tabs around unquoted fields are dropped (manifests
/// written by hand); quoted fields are kept as written.
std::vector<Record> parse(std::string_view text, const std::string& origin, bool trim_unquoted = false);

}  // namespace fracture::csv
