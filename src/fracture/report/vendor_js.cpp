// The vendored chart libraries, assembled into the binary with .incbin from the build folder
// (CMake's fracture_vendor_js target fetches them; this file is rebuilt when they change).
#include <sstream>

#include "fracture/report/html.h"

#ifdef FRACTURE_WITH_HTML_REPORT
#define FRACTURE_INCBIN(sym, file)                                                                   \
  __asm__(".section .rodata\n.global " #sym "\n.balign 16\n" #sym ":\n.incbin \"" FRACTURE_VENDOR_DIR \
          "/" file "\"\n.global " #sym "_end\n" #sym "_end:\n.byte 0\n.previous\n")
FRACTURE_INCBIN(fracture_vendor_vega, "vega.min.js");
FRACTURE_INCBIN(fracture_vendor_vega_lite, "vega-lite.min.js");
FRACTURE_INCBIN(fracture_vendor_vega_embed, "vega-embed.min.js");
FRACTURE_INCBIN(fracture_vendor_versions, "VERSIONS.txt");
extern "C" const char fracture_vendor_vega[], fracture_vendor_vega_end[], fracture_vendor_vega_lite[],
    fracture_vendor_vega_lite_end[], fracture_vendor_vega_embed[], fracture_vendor_vega_embed_end[],
    fracture_vendor_versions[], fracture_vendor_versions_end[];
#endif

namespace fracture::report {

std::vector<VendoredScript> vendored_chart_scripts() {
  std::vector<VendoredScript> out;
#ifdef FRACTURE_WITH_HTML_REPORT
  // VERSIONS.txt: "name version integrity licence" per line, in load order
  std::istringstream in(std::string(fracture_vendor_versions, fracture_vendor_versions_end));
  const std::string_view texts[] = {{fracture_vendor_vega, size_t(fracture_vendor_vega_end - fracture_vendor_vega)},
                                    {fracture_vendor_vega_lite,
                                     size_t(fracture_vendor_vega_lite_end - fracture_vendor_vega_lite)},
                                    {fracture_vendor_vega_embed,
                                     size_t(fracture_vendor_vega_embed_end - fracture_vendor_vega_embed)}};
  std::string name, version, rest;
  for (const std::string_view& t : texts) {
    in >> name >> version;
    std::getline(in, rest);
    out.push_back({name, version, t});
  }
#endif
  return out;
}

}  // namespace fracture::report
