// safetensors files: an 8-byte little-endian header length, a JSON header (dtype, shape,
// data_offsets per key, __metadata__), then the raw little-endian tensor bytes.
#include <cstring>
#include <nlohmann/json.hpp>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/weights/shape_str.h"

namespace fracture::models {

namespace {

using detail::shape_str;

const char* safetensors_dtype(torch::Dtype d) {
  switch (d) {
    case torch::kFloat64: return "F64";
    case torch::kFloat32: return "F32";
    case torch::kFloat16: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kInt64: return "I64";
    case torch::kInt32: return "I32";
    case torch::kInt16: return "I16";
    case torch::kInt8: return "I8";
    case torch::kUInt8: return "U8";
    case torch::kBool: return "BOOL";
    default: return nullptr;
  }
}

}  // namespace

NamedTensors read_safetensors(const std::filesystem::path& path) {
  const std::string file = path.string();
  const std::string bytes = read_file(path);
  FRACTURE_CHECK(bytes.size() >= 8, file, ": too short for a safetensors file (", bytes.size(), " bytes)");
  uint64_t n = 0;
  for (int k = 0; k < 8; ++k) n |= uint64_t(static_cast<uint8_t>(bytes[k])) << (8 * k);
  FRACTURE_CHECK(n <= bytes.size() - 8, file, ": header length ", n, " exceeds the file size ", bytes.size(),
                 " (truncated or not safetensors)");
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(bytes.begin() + 8, bytes.begin() + 8 + n);
  } catch (const std::exception& e) {
    FRACTURE_FAIL(file, ": safetensors header is not valid JSON: ", e.what());
  }
  FRACTURE_CHECK(header.is_object(), file, ": safetensors header is not a JSON object");
  const size_t data_start = 8 + n, data_size = bytes.size() - data_start;
  NamedTensors out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const auto& e = it.value();
    FRACTURE_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"), file,
                   ": tensor '", it.key(), "' needs dtype, shape and data_offsets");
    // every field's type checked before use, and the size from shape and dtype checked against the
    // offsets before any tensor is allocated (a header may claim any shape)
    const auto& jdt = e["dtype"];
    const auto& jshape = e["shape"];
    const auto& joff = e["data_offsets"];
    FRACTURE_CHECK(jdt.is_string(), file, ": tensor '", it.key(), "': dtype must be a string");
    const std::string dt = jdt.get<std::string>();
    torch::Dtype dtype = torch::kFloat32;
    bool known = false;
    for (auto d : {torch::kFloat64, torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kInt64, torch::kInt32,
                   torch::kInt16, torch::kInt8, torch::kUInt8, torch::kBool}) {
      if (dt == safetensors_dtype(d)) {
        dtype = d;
        known = true;
      }
    }
    FRACTURE_CHECK(known, file, ": tensor '", it.key(), "' has unsupported dtype '", dt, "'");
    FRACTURE_CHECK(jshape.is_array() && jshape.size() <= 16, file, ": tensor '", it.key(),
                   "': shape must be a list of at most 16 sizes");
    std::vector<int64_t> shape;
    uint64_t nbytes = uint64_t(torch::elementSize(dtype));
    for (const auto& d : jshape) {
      FRACTURE_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), file, ": tensor '",
                     it.key(), "': shape sizes must be non-negative integers");
      const uint64_t v = d.get<uint64_t>();
      FRACTURE_CHECK(v == 0 || nbytes <= data_size / v, file, ": tensor '", it.key(), "' of shape ",
                     jshape.dump(), " needs more bytes than the ", data_size, "-byte data section holds");
      nbytes *= v;
      shape.push_back(int64_t(v));
    }
    FRACTURE_CHECK(joff.is_array() && joff.size() == 2 && joff[0].is_number_unsigned() && joff[1].is_number_unsigned(),
                   file, ": tensor '", it.key(), "': data_offsets must be two non-negative integers");
    const uint64_t off0 = joff[0].get<uint64_t>(), off1 = joff[1].get<uint64_t>();
    FRACTURE_CHECK(off0 <= off1 && off1 <= data_size, file, ": tensor '", it.key(), "' data_offsets lie outside the ",
                   data_size, "-byte data section (truncated file?)");
    FRACTURE_CHECK(off1 - off0 == nbytes, file, ": tensor '", it.key(), "' has ", off1 - off0,
                   " bytes, its dtype and shape ", shape_str(shape), " need ", nbytes);
    auto t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
    if (t.nbytes()) std::memcpy(t.data_ptr(), bytes.data() + data_start + off0, t.nbytes());
    out.emplace_back(it.key(), t);
  }
  return out;
}

void write_safetensors(const NamedTensors& tensors, const std::filesystem::path& path) {
  nlohmann::ordered_json header;
  header["__metadata__"] = {{"format", "pt"}};
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& kv : tensors) {
    auto t = kv.second.detach().to(torch::kCPU).contiguous();
    const char* dt = safetensors_dtype(t.scalar_type());
    FRACTURE_CHECK(dt, path.string(), ": cannot write tensor '", kv.first, "' of dtype ", t.dtype());
    header[kv.first] = {{"dtype", dt}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
    data.push_back(t);
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';  // align the data section to 8 bytes, as the reference writer does
  std::string out;
  out.reserve(8 + h.size() + offset);
  for (int k = 0; k < 8; ++k) out += static_cast<char>((uint64_t(h.size()) >> (8 * k)) & 0xff);
  out += h;
  for (auto& t : data) out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  write_file_atomic(path, out);
}


}  // namespace fracture::models
