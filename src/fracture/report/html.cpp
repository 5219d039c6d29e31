#include "fracture/report/html.h"

#include <sstream>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"

namespace fracture::report {

namespace {

std::string base64(std::string_view in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// **bold** and `code` inside one line of text (escaped).
std::string inline_md(const std::string& s) {
  std::string out;
  bool bold = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '`') {
      const size_t end = s.find('`', i + 1);
      if (end != std::string::npos) {
        out += "<code>" + html_escape(std::string_view(s).substr(i + 1, end - i - 1)) + "</code>";
        i = end;
        continue;
      }
    }
    if (s.compare(i, 2, "**") == 0) {
      out += bold ? "</strong>" : "<strong>";
      bold = !bold;
      ++i;
      continue;
    }
    out += html_escape(std::string_view(&s[i], 1));
  }
  if (bold) out += "</strong>";
  return out;
}

std::vector<std::string> table_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::string t = line;
  if (!t.empty() && t.front() == '|') t.erase(0, 1);
  if (!t.empty() && t.back() == '|') t.pop_back();
  std::istringstream in(t);
  std::string c;
  while (std::getline(in, c, '|')) {
    const size_t a = c.find_first_not_of(' '), b = c.find_last_not_of(' ');
    cells.push_back(a == std::string::npos ? "" : c.substr(a, b - a + 1));
  }
  return cells;
}

std::string figure_html(const Figure& f) {
  std::string h = "<figure id=\"fig-" + f.id + "\"><figcaption><strong>" + html_escape(f.title) + "</strong>";
  if (!f.caption.empty()) h += " " + html_escape(f.caption);
  if (!f.file.empty())
    h += " <a class=\"file\" href=\"" + html_escape(f.file) + "\">" + html_escape(f.file) + "</a>";
  h += "</figcaption>";
  if (!f.png.empty())
    h += "<img alt=\"" + html_escape(f.title) + "\" src=\"data:image/png;base64," + base64(f.png) + "\">";
  else
    h += "<div class=\"chart\" id=\"" + f.id + "\"></div>";
  return h + "</figure>\n";
}

const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1180px;margin:24px auto;padding:0 16px;color:#1b1f24;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}h3{margin-top:1.2em}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;white-space:nowrap}th{background:#f3f5f7}
blockquote{margin:.8em 0;padding:.4em 1em;background:#fff8e1;border-left:4px solid #f0b400}
code{background:#f3f5f7;padding:0 3px;border-radius:3px;font-size:.92em}
.figures{display:flex;flex-wrap:wrap;gap:18px;margin:1em 0}
figure{margin:0;border:1px solid #e1e4e8;border-radius:6px;padding:8px;background:#fff}
figcaption{font-size:.85em;max-width:360px;margin-bottom:6px}figure img{width:360px;display:block}
a.file{color:#57606a;font-size:.9em}footer{margin-top:2em;font-size:.8em;color:#57606a}
)";

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string markdown_to_html(const std::string& md) {
  std::istringstream in(md);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::string out, para;
  auto flush = [&] {
    if (!para.empty()) out += "<p>" + inline_md(para) + "</p>\n";
    para.clear();
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty()) {
      flush();
    } else if (l[0] == '#') {
      flush();
      size_t n = l.find_first_not_of('#');
      const std::string tag = "h" + std::to_string(std::min<size_t>(n, 6));
      out += "<" + tag + ">" + inline_md(l.substr(std::min(l.size(), n + 1))) + "</" + tag + ">\n";
    } else if (l.rfind("- ", 0) == 0) {
      flush();
      out += "<ul>\n";
      for (; i < lines.size() && lines[i].rfind("- ", 0) == 0; ++i) out += "<li>" + inline_md(lines[i].substr(2)) + "</li>\n";
      --i;
      out += "</ul>\n";
    } else if (l.rfind("> ", 0) == 0) {
      flush();
      out += "<blockquote>" + inline_md(l.substr(2)) + "</blockquote>\n";
    } else if (l[0] == '|' && i + 1 < lines.size() && lines[i + 1].rfind("|---", 0) == 0) {
      flush();
      out += "<table><thead><tr>";
      for (const auto& c : table_cells(l)) out += "<th>" + inline_md(c) + "</th>";
      out += "</tr></thead><tbody>\n";
      for (i += 2; i < lines.size() && !lines[i].empty() && lines[i][0] == '|'; ++i) {
        out += "<tr>";
        for (const auto& c : table_cells(lines[i])) out += "<td>" + inline_md(c) + "</td>";
        out += "</tr>\n";
      }
      --i;
      out += "</tbody></table>\n";
    } else {
      para += para.empty() ? l : " " + l;
    }
  }
  flush();
  return out;
}

void write_html_page(const std::filesystem::path& file, const std::string& title,
                     const std::vector<PageSection>& sections) {
  const std::vector<VendoredScript> scripts = vendored_chart_scripts();
  FRACTURE_CHECK(!scripts.empty(), file.string(), ": this fracture was built without FRACTURE_WITH_HTML_REPORT ",
                 "(no chart libraries); the Markdown and CSV reports are written, the HTML report is not");
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" + html_escape(title) +
                  "</title>\n<style>" + kStyle + "</style>\n";
  std::string libs;
  for (const VendoredScript& s : scripts) {
    h += "<script>/* " + s.name + " " + s.version + " (BSD-3-Clause), vendored from the npm registry */\n";
    h += s.text;
    h += "\n</script>\n";
    libs += (libs.empty() ? "" : ", ") + s.name + " " + s.version;
  }
  h += "</head><body>\n";
  nlohmann::json charts = nlohmann::json::array();
  for (const PageSection& sec : sections) {
    h += markdown_to_html(sec.markdown);
    if (sec.figures.empty()) continue;
    h += "<div class=\"figures\">\n";
    for (const Figure& f : sec.figures) {
      h += figure_html(f);
      if (f.png.empty()) charts.push_back({{"id", f.id}, {"spec", f.spec}});
    }
    h += "</div>\n";
  }
  h += "<footer>Written by fracture " FRACTURE_VERSION "; charts drawn by " + html_escape(libs) +
       " (inlined: the page loads nothing from the network).</footer>\n";
  // "</" inside the JSON would end the script element: JSON allows "<\/"
  std::string data = charts.dump();
  for (size_t p = 0; (p = data.find("</", p)) != std::string::npos; p += 3) data.replace(p, 2, "<\\/");
  h += "<script>\nconst charts = " + data + ";\n" + R"(const opts = {renderer: 'svg', actions: {export: true, source: false, compiled: false, editor: false}};
Promise.all(charts.map(c => vegaEmbed('#' + c.id, c.spec, opts)))
  .then(() => document.body.setAttribute('data-charts-rendered', String(charts.length)))
  .catch(e => { document.body.setAttribute('data-chart-error', String(e)); console.error(e); });
</script>
</body></html>
)";
  write_file_atomic(file, h);
}

}  // namespace fracture::report
