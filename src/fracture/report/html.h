// The HTML pieces of the study report: Markdown (the subset summary.md uses) to HTML, and one
// self-contained page that inlines the vendored chart libraries (Vega, Vega-Lite, vega-embed from
// the npm registry, scripts/vendor_js.sh) and draws Vega-Lite specs. The page loads nothing from
// the network; pictures are inlined as data: URIs.
//
//   std::string html = fracture::report::markdown_to_html("- **AUROC** 0.91");   // <ul>\n<li><strong>AUROC...
//   fracture::report::Figure f{"roc", "ROC curves", "Out-of-fold.", spec, "classify/cv/roc_curve.png", ""};
//   fracture::report::write_html_page(study / "report.html", "Fracture study", {{"## Findings\n", {f}}});
//
// The page marks its <body> with data-charts-rendered="N" once vega-embed has drawn all N charts,
// or data-chart-error="..." when one failed; the browser test (tests/cli/report_browser.sh) reads them.
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace fracture::report {

/// &, <, >, " escaped.
std::string html_escape(std::string_view s);

/// Headings (#, ##, ###), paragraphs, "- " lists, "> " quotes, pipe tables (header, |---| row,
/// body), **bold** and `code`; everything else is text (escaped).
std::string markdown_to_html(const std::string& md);

/// One figure: a Vega-Lite spec drawn in the page, or a PNG shown inline (png non-empty).
struct Figure {
  std::string id;        ///< element id, unique in the page ([a-z0-9_-])
  std::string title;
  std::string caption;   ///< a sentence under the figure (what is drawn, on which data)
  nlohmann::json spec;   ///< Vega-Lite (ignored for a PNG)
  std::string file;      ///< the same figure as a file beside the page (relative path), "" if none
  std::string png;       ///< PNG bytes for a picture figure
};

/// A part of the page: Markdown converted, then its figures.
struct PageSection {
  std::string markdown;
  std::vector<Figure> figures;
};

/// Vega, Vega-Lite and vega-embed as built in: name, version, script text. Empty when the build has
/// no FRACTURE_WITH_HTML_REPORT.
struct VendoredScript {
  std::string name, version;
  std::string_view text;
};
std::vector<VendoredScript> vendored_chart_scripts();

/// Writes the page atomically. Throws fracture::Error when the build has no chart libraries.
void write_html_page(const std::filesystem::path& file, const std::string& title,
                     const std::vector<PageSection>& sections);

}  // namespace fracture::report
