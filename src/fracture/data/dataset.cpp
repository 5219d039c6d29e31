#include "fracture/data/dataset.h"

namespace fracture {

std::string Problem::str() const {
  std::string s = file.string();
  if (line > 0) s += ":" + std::to_string(line);
  return s + ": " + message;
}

}  // namespace fracture
