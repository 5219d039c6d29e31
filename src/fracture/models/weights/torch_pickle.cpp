// torch.save archives (.pth / .pt): zip + protocol-2 pickle, with our own unpickler for the subset
// of pickle that state-dict files use and a minimal pickler to write them back.
#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <map>
#include <set>
#include <unordered_map>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/weights/shape_str.h"

namespace fracture::models {

namespace {

using detail::shape_str;

// ---- torch storage type names <-> dtypes --------------------------------------------------------
struct StorageType {
  const char* name;
  torch::Dtype dtype;
};
const StorageType kStorageTypes[] = {
    {"FloatStorage", torch::kFloat32}, {"DoubleStorage", torch::kFloat64}, {"HalfStorage", torch::kFloat16},
    {"BFloat16Storage", torch::kBFloat16}, {"LongStorage", torch::kInt64}, {"IntStorage", torch::kInt32},
    {"ShortStorage", torch::kInt16}, {"CharStorage", torch::kInt8}, {"ByteStorage", torch::kUInt8},
    {"BoolStorage", torch::kBool},
};

// ---- a minimal unpickler for torch.save state dicts ----------------------------------------------
struct PyObj;
using Obj = std::shared_ptr<PyObj>;
struct PyObj {
  enum class K { none, boolean, integer, real, str, tuple, list, dict, global, tensor, mark };
  K k = K::none;
  int64_t i = 0;
  double f = 0;
  std::string s;                          // str value, or "module.name" of a global
  std::vector<Obj> items;                 // tuple / list
  std::vector<std::pair<Obj, Obj>> dict;  // dict / OrderedDict, insertion order
  torch::Tensor t;                        // tensor (or a storage as a 1-D tensor)
};

Obj make(PyObj::K k) {
  auto o = std::make_shared<PyObj>();
  o->k = k;
  return o;
}

class Unpickler {
 public:
  Unpickler(const char* data, size_t size, std::string file, caffe2::serialize::PyTorchStreamReader& zip)
      : p_(data), end_(data + size), file_(std::move(file)), zip_(zip) {}

  Obj run() {
    while (true) {
      uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;                  // PROTO
        case 0x95: bytes(8); break;              // FRAME (length ignored: whole pickle in memory)
        case '}': push(make(PyObj::K::dict)); break;   // EMPTY_DICT
        case ']': push(make(PyObj::K::list)); break;   // EMPTY_LIST
        case ')': push(make(PyObj::K::tuple)); break;  // EMPTY_TUPLE
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case 'N': push(make(PyObj::K::none)); break;
        case 0x88: case 0x89: {  // NEWTRUE / NEWFALSE
          auto o = make(PyObj::K::boolean);
          o->i = op == 0x88;
          push(o);
          break;
        }
        case 'J': push_int(static_cast<int32_t>(le(4))); break;  // BININT
        case 'K': push_int(le(1)); break;                        // BININT1
        case 'M': push_int(le(2)); break;                        // BININT2
        case 0x8a: {                                             // LONG1
          size_t n = u8();
          FRACTURE_CHECK(n <= 8, file_, ": pickle LONG1 of ", n, " bytes is too large");
          uint64_t v = n ? le(n) : 0;
          if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);  // sign-extend
          push_int(static_cast<int64_t>(v));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian double
          const char* b = bytes(8);
          uint64_t v = 0;
          for (int k = 0; k < 8; ++k) v = (v << 8) | static_cast<uint8_t>(b[k]);
          auto o = make(PyObj::K::real);
          std::memcpy(&o->f, &v, 8);
          push(o);
          break;
        }
        case 'X': push_str(le(4)); break;     // BINUNICODE
        case 0x8c: push_str(u8()); break;     // SHORT_BINUNICODE
        case 0x8d: push_str(le(8)); break;    // BINUNICODE8
        case 'c': {                           // GLOBAL "module\nname\n"
          std::string mod = line(), name = line();
          auto o = make(PyObj::K::global);
          o->s = mod + "." + name;
          push(o);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop(), mod = pop();
          auto o = make(PyObj::K::global);
          o->s = mod->s + "." + name->s;
          push(o);
          break;
        }
        case 'q': memo_[le(1)] = top(); break;  // BINPUT
        case 'r': memo_[le(4)] = top(); break;  // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
        case 'h': push(memo_get(le(1))); break;  // BINGET
        case 'j': push(memo_get(le(4))); break;  // LONG_BINGET
        case 't': {                              // TUPLE
          auto o = make(PyObj::K::tuple);
          o->items = pop_to_mark();
          push(o);
          break;
        }
        case 0x85: case 0x86: case 0x87: {  // TUPLE1/2/3
          size_t n = op - 0x84;
          auto o = make(PyObj::K::tuple);
          FRACTURE_CHECK(stack_.size() >= n, file_, ": pickle stack underflow");
          o->items.assign(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          push(o);
          break;
        }
        case 'a': {  // APPEND
          auto v = pop();
          list_top()->items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          auto vs = pop_to_mark();
          auto l = list_top();
          l->items.insert(l->items.end(), vs.begin(), vs.end());
          break;
        }
        case 's': {  // SETITEM
          auto v = pop(), k = pop();
          dict_top()->dict.emplace_back(k, v);
          break;
        }
        case 'u': {  // SETITEMS
          auto kv = pop_to_mark();
          FRACTURE_CHECK(kv.size() % 2 == 0, file_, ": pickle SETITEMS with an odd item count");
          auto d = dict_top();
          for (size_t k = 0; k < kv.size(); k += 2) d->dict.emplace_back(kv[k], kv[k + 1]);
          break;
        }
        case 'b': pop(); break;  // BUILD: state (OrderedDict `_metadata`) is not needed
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        case 'R': {                                     // REDUCE
          auto args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case '.': return pop();  // STOP
        default:
          FRACTURE_FAIL(file_, ": unsupported pickle opcode 0x", std::hex, int(op), std::dec, " at byte ",
                        size_t(p_ - 1 - start_), " (only the subset torch.save uses for state dicts is read)");
      }
    }
  }

 private:
  const char* p_;
  const char* end_;
  const char* start_ = p_;
  std::string file_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  std::vector<Obj> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Obj> memo_;
  std::map<std::string, torch::Tensor> storages_;

  const char* bytes(size_t n) {
    FRACTURE_CHECK(static_cast<size_t>(end_ - p_) >= n, file_, ": pickle data is truncated");
    const char* b = p_;
    p_ += n;
    return b;
  }
  uint8_t u8() { return static_cast<uint8_t>(*bytes(1)); }
  uint64_t le(size_t n) {
    const char* b = bytes(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= uint64_t(static_cast<uint8_t>(b[k])) << (8 * k);
    return v;
  }
  std::string line() {
    std::string s;
    while (true) {
      char c = static_cast<char>(u8());
      if (c == '\n') return s;
      s += c;
    }
  }
  void push(Obj o) { stack_.push_back(std::move(o)); }
  void push_int(int64_t v) {
    auto o = make(PyObj::K::integer);
    o->i = v;
    push(o);
  }
  void push_str(uint64_t n) {
    FRACTURE_CHECK(n <= static_cast<uint64_t>(end_ - p_), file_, ": pickle string runs past the end of data.pkl");
    auto o = make(PyObj::K::str);
    o->s.assign(bytes(n), n);
    push(o);
  }
  Obj pop() {
    FRACTURE_CHECK(!stack_.empty(), file_, ": pickle stack underflow (corrupt data.pkl)");
    auto o = stack_.back();
    stack_.pop_back();
    return o;
  }
  Obj top() {
    FRACTURE_CHECK(!stack_.empty(), file_, ": pickle stack underflow (corrupt data.pkl)");
    return stack_.back();
  }
  Obj memo_get(uint64_t k) {
    auto it = memo_.find(k);
    FRACTURE_CHECK(it != memo_.end(), file_, ": pickle memo key ", k, " not found");
    return it->second;
  }
  std::vector<Obj> pop_to_mark() {
    FRACTURE_CHECK(!marks_.empty() && marks_.back() <= stack_.size(), file_, ": pickle MARK missing");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Obj> out(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return out;
  }
  Obj dict_top() {
    auto d = top();
    FRACTURE_CHECK(d->k == PyObj::K::dict, file_, ": pickle SETITEMS on a non-dict");
    return d;
  }
  Obj list_top() {
    auto l = top();
    FRACTURE_CHECK(l->k == PyObj::K::list, file_, ": pickle APPENDS on a non-list");
    return l;
  }

  // pid = ('storage', torch.FloatStorage, key, location, numel): one zip record data/<key>.
  Obj persistent_load(const Obj& pid) {
    FRACTURE_CHECK(pid->k == PyObj::K::tuple && pid->items.size() >= 5 && pid->items[0]->s == "storage" &&
                       pid->items[1]->k == PyObj::K::global,
                   file_, ": unsupported persistent id in pickle (expected a torch storage)");
    const std::string type = pid->items[1]->s, key = pid->items[2]->s;
    const int64_t numel = pid->items[4]->i;
    auto out = make(PyObj::K::tensor);
    auto it = storages_.find(key);
    if (it != storages_.end()) {
      out->t = it->second;
      return out;
    }
    bool known = false;
    torch::Dtype dtype = torch::kFloat32;
    for (const auto& st : kStorageTypes) {
      if (type == std::string("torch.") + st.name) {
        dtype = st.dtype;
        known = true;
      }
    }
    FRACTURE_CHECK(known, file_, ": unsupported storage type '", type, "' for storage ", key);
    FRACTURE_CHECK(zip_.hasRecord("data/" + key), file_, ": storage record data/", key, " is missing from the archive");
    at::DataPtr ptr;
    size_t size = 0;
    std::tie(ptr, size) = zip_.getRecord("data/" + key);
    auto t = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    size_t need = static_cast<size_t>(numel) * t.element_size();
    FRACTURE_CHECK(size >= need, file_, ": storage data/", key, " has ", size, " bytes, expected ", need);
    if (need) std::memcpy(t.data_ptr(), ptr.get(), need);
    storages_[key] = t;
    out->t = t;
    return out;
  }

  std::vector<int64_t> ints(const Obj& tuple, const char* what) {
    FRACTURE_CHECK(tuple->k == PyObj::K::tuple, file_, ": tensor ", what, " is not a tuple");
    std::vector<int64_t> v;
    for (auto& o : tuple->items) {
      FRACTURE_CHECK(o->k == PyObj::K::integer, file_, ": tensor ", what, " holds a non-integer");
      v.push_back(o->i);
    }
    return v;
  }

  Obj reduce(const Obj& fn, const Obj& args) {
    FRACTURE_CHECK(fn->k == PyObj::K::global && args->k == PyObj::K::tuple, file_, ": unsupported pickle REDUCE");
    if (fn->s == "collections.OrderedDict") {
      FRACTURE_CHECK(args->items.empty(), file_, ": OrderedDict built from arguments is not supported");
      return make(PyObj::K::dict);
    }
    if (fn->s == "torch._utils._rebuild_tensor_v2" || fn->s == "torch._utils._rebuild_tensor") {
      FRACTURE_CHECK(args->items.size() >= 4 && args->items[0]->k == PyObj::K::tensor, file_,
                     ": malformed _rebuild_tensor_v2 arguments");
      const auto& storage = args->items[0]->t;
      int64_t offset = args->items[1]->i;
      auto size = ints(args->items[2], "size"), stride = ints(args->items[3], "stride");
      FRACTURE_CHECK(size.size() == stride.size(), file_, ": tensor size and stride lengths differ");
      int64_t last = offset;  // highest element index touched
      bool empty = false;
      for (size_t d = 0; d < size.size(); ++d) {
        FRACTURE_CHECK(size[d] >= 0 && stride[d] >= 0, file_, ": negative tensor size or stride");
        if (size[d] == 0) empty = true;
        last += (size[d] - 1) * stride[d];
      }
      FRACTURE_CHECK(empty || (offset >= 0 && last < storage.numel()), file_, ": tensor view of shape ",
                     shape_str(size), " runs past its storage of ", storage.numel(), " elements");
      auto o = make(PyObj::K::tensor);
      o->t = storage.as_strided(size, stride, offset);
      return o;
    }
    if (fn->s == "torch._utils._rebuild_parameter") {
      FRACTURE_CHECK(!args->items.empty() && args->items[0]->k == PyObj::K::tensor, file_,
                     ": malformed _rebuild_parameter arguments");
      return args->items[0];
    }
    FRACTURE_FAIL(file_, ": unsupported pickle global '", fn->s,
                  "' (only state dicts of tensors are read; re-save with torch.save(model.state_dict()))");
  }
};

// ---- a minimal pickler (protocol 2) --------------------------------------------------------------
struct Pickler {
  std::string out;
  void op(char c) { out += c; }
  void le(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) out += static_cast<char>((v >> (8 * k)) & 0xff);
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op('K');
      le(v, 1);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op('J');
      le(static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
    } else {
      out += '\x8a';
      le(8, 1);
      le(static_cast<uint64_t>(v), 8);
    }
  }
  void str(const std::string& s) {
    op('X');
    le(s.size(), 4);
    out += s;
  }
  void global(const std::string& mod, const std::string& name) { out += "c" + mod + "\n" + name + "\n"; }
  void ints(c10::IntArrayRef v) {
    op('(');
    for (auto x : v) integer(x);
    op('t');
  }
};


}  // namespace

NamedTensors read_torch_checkpoint(const std::filesystem::path& path) {
  const std::string file = path.string();
  FRACTURE_CHECK(std::filesystem::is_regular_file(path), file, ": checkpoint file not found");
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file);
  } catch (const c10::Error& e) {
    FRACTURE_FAIL(file, ": not a readable torch.save zip archive (truncated, or saved with "
                        "_use_new_zipfile_serialization=False): ",
                  e.what_without_backtrace());
  }
  Obj root;
  try {
    FRACTURE_CHECK(zip->hasRecord("data.pkl"), file, ": archive has no data.pkl (not a torch.save checkpoint)");
    at::DataPtr ptr;
    size_t size = 0;
    std::tie(ptr, size) = zip->getRecord("data.pkl");
    Unpickler u(static_cast<const char*>(ptr.get()), size, file, *zip);
    root = u.run();
  } catch (const c10::Error& e) {
    FRACTURE_FAIL(file, ": corrupt torch.save archive: ", e.what_without_backtrace());
  }
  FRACTURE_CHECK(root->k == PyObj::K::dict, file, ": the pickled object is not a dict of tensors (state dict)");
  for (auto& kv : root->dict) {  // {"state_dict": {...}} or {"model": {...}} wrappers
    if (kv.first->k == PyObj::K::str && (kv.first->s == "state_dict" || kv.first->s == "model") &&
        kv.second->k == PyObj::K::dict) {
      root = kv.second;
      break;
    }
  }
  NamedTensors out;
  for (auto& kv : root->dict) {
    FRACTURE_CHECK(kv.first->k == PyObj::K::str, file, ": state dict has a non-string key");
    FRACTURE_CHECK(kv.second->k == PyObj::K::tensor, file, ": value of '", kv.first->s, "' is not a tensor");
    out.emplace_back(kv.first->s, kv.second->t);
  }
  return out;
}

void write_torch_checkpoint(const NamedTensors& tensors, const std::filesystem::path& path) {
  Pickler pk;
  pk.out += "\x80\x02";  // PROTO 2
  pk.global("collections", "OrderedDict");
  pk.op(')');
  pk.op('R');
  pk.op('(');
  std::vector<torch::Tensor> storages;
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto t = tensors[i].second.detach().to(torch::kCPU).contiguous();
    const StorageType* st = nullptr;
    for (const auto& s : kStorageTypes) {
      if (s.dtype == t.scalar_type()) st = &s;
    }
    FRACTURE_CHECK(st, path.string(), ": cannot write tensor '", tensors[i].first, "' of dtype ", t.dtype());
    storages.push_back(t);
    pk.str(tensors[i].first);
    pk.global("torch._utils", "_rebuild_tensor_v2");
    pk.op('(');
    pk.op('(');  // persistent id ('storage', type, key, location, numel)
    pk.str("storage");
    pk.global("torch", st->name);
    pk.str(std::to_string(i));
    pk.str("cpu");
    pk.integer(t.numel());
    pk.op('t');
    pk.op('Q');
    pk.integer(0);  // storage offset
    pk.ints(t.sizes());
    pk.ints(t.strides());
    pk.op('\x89');  // requires_grad False
    pk.global("collections", "OrderedDict");
    pk.op(')');
    pk.op('R');  // backward hooks
    pk.op('t');
    pk.op('R');
  }
  pk.op('u');
  pk.op('.');
  std::string buffer;
  {
    caffe2::serialize::PyTorchStreamWriter zip([&buffer](const void* data, size_t n) {
      buffer.append(static_cast<const char*>(data), n);
      return n;
    });
    zip.writeRecord("data.pkl", pk.out.data(), pk.out.size());
    for (size_t i = 0; i < storages.size(); ++i) {
      zip.writeRecord("data/" + std::to_string(i), storages[i].data_ptr(), storages[i].nbytes());
    }
    zip.writeEndOfFile();
  }
  write_file_atomic(path, buffer);
}


}  // namespace fracture::models
