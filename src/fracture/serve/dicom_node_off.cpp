// serve/dicom_node.h in a build without FRACTURE_WITH_DICOM (DCMTK).
#include "fracture/core/error.h"
#include "fracture/serve/dicom_node.h"

namespace fracture::serve {

int run_dicom_node(const Config&, Logger&) {
  FRACTURE_FAIL("fracture dicom-node: this fracture was built without FRACTURE_WITH_DICOM (DCMTK); rebuild with it");
}

}  // namespace fracture::serve
