// Hand-written because no Debian library reads torch.save files without Python: a small pickle
// virtual machine for the opcodes torch emits (protocol 2, plus the protocol-4 ones newer versions use),
// and the two container layouts around it.
#include "weights/torch_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"

namespace facepipe::weights {

TorchValue::TorchValue() = default;
TorchValue::TorchValue(const TorchValue&) = default;
TorchValue::TorchValue(TorchValue&&) noexcept = default;
TorchValue& TorchValue::operator=(const TorchValue&) = default;
TorchValue& TorchValue::operator=(TorchValue&&) noexcept = default;
TorchValue::~TorchValue() = default;
namespace {

using Bytes = std::vector<uint8_t>;

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw Error(ErrorKind::kInvalidInput, "'" + file + "' is not a readable PyTorch file: " + what);
}

// A bounds-checked cursor over a byte range.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, std::string file)
      : p_(data), end_(data + size), file_(std::move(file)) {}
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* take(size_t n) {
    if (n > left())
      fail(file_, "truncated (wanted " + std::to_string(n) + " bytes, " + std::to_string(left()) + " left)");
    const uint8_t* at = p_;
    p_ += n;
    return at;
  }
  uint8_t u8() { return *take(1); }
  uint64_t le(size_t n) {
    const uint8_t* b = take(n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= uint64_t(b[i]) << (8 * i);
    return v;
  }
  std::string line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', left()));
    if (!nl) fail(file_, "truncated text field");
    std::string s(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    return s;
  }
  const uint8_t* pos() const { return p_; }
  const std::string& file() const { return file_; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  std::string file_;
};

enum class DType { kFloat, kDouble, kHalf, kLong, kInt, kShort, kByte, kChar, kBool };

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kDouble:
    case DType::kLong:
      return 8;
    case DType::kFloat:
    case DType::kInt:
      return 4;
    case DType::kHalf:
    case DType::kShort:
      return 2;
    default:
      return 1;
  }
}

struct Storage {
  DType dtype = DType::kFloat;
  std::string key;
  int64_t numel = 0;
  // The storage's bytes: a view into the file's (legacy) or its zip entry's buffer, which `owner` keeps
  // alive, not a copy: a 94 MB InceptionResnetV1 file was held three times at once (file, storages,
  // tensors), and its 263 MB load peak was the whole engine's peak RSS.
  std::shared_ptr<const void> owner;
  const uint8_t* data = nullptr;
  bool mapped = false;  // `data` lies in a read-only file mapping (release_pages may drop it)
  bool loaded = false;
};

// The pickle machine's values. Mutable containers are shared (the memo may hold them), hence pointers.
struct Obj;
using ObjPtr = std::shared_ptr<Obj>;
struct Obj {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kTuple,
    kDict,
    kGlobal,
    kStorage,
    kTensor,
    kMark
  };
  Kind kind = Kind::kNone;
  int64_t i = 0;
  double f = 0;
  std::string s;  // string, or "module.name" of a global
  std::vector<ObjPtr> items;
  std::vector<std::pair<ObjPtr, ObjPtr>> entries;
  std::shared_ptr<Storage> storage;  // kStorage, kTensor
  int64_t offset = 0;                // kTensor
  std::vector<int64_t> sizes, strides;
};

// Owns every object one load makes, until the load is over. A pickle can build reference cycles (a
// list appended to itself, a dict its own value: shared_ptr alone leaked them, found by the torch_file
// fuzzer) and nestings deep enough that releasing them recursively would overflow the stack; the arena
// empties every container first and then releases the objects one by one.
class ObjArena {
 public:
  ObjArena() : previous_(current_) { current_ = this; }
  ObjArena(const ObjArena&) = delete;
  ObjArena& operator=(const ObjArena&) = delete;
  ~ObjArena() {
    current_ = previous_;
    for (const ObjPtr& o : made_) {
      o->items.clear();  // every object is held here, so clearing frees nothing recursively
      o->entries.clear();
    }
    made_.clear();
  }
  static void track(const ObjPtr& o) {
    if (current_) current_->made_.push_back(o);
  }

 private:
  static thread_local ObjArena* current_;
  ObjArena* previous_;
  std::vector<ObjPtr> made_;
};
thread_local ObjArena* ObjArena::current_ = nullptr;

ObjPtr make(Obj::Kind k) {
  auto o = std::make_shared<Obj>();
  o->kind = k;
  ObjArena::track(o);
  return o;
}
ObjPtr make_int(int64_t v) {
  auto o = make(Obj::Kind::kInt);
  o->i = v;
  return o;
}
ObjPtr make_str(std::string s) {
  auto o = make(Obj::Kind::kString);
  o->s = std::move(s);
  return o;
}

std::optional<DType> storage_dtype(const std::string& global) {
  static const std::unordered_map<std::string, DType> kTypes = {
      {"torch.FloatStorage", DType::kFloat}, {"torch.DoubleStorage", DType::kDouble},
      {"torch.HalfStorage", DType::kHalf},   {"torch.LongStorage", DType::kLong},
      {"torch.IntStorage", DType::kInt},     {"torch.ShortStorage", DType::kShort},
      {"torch.ByteStorage", DType::kByte},   {"torch.CharStorage", DType::kChar},
      {"torch.BoolStorage", DType::kBool}};
  auto it = kTypes.find(global);
  if (it == kTypes.end()) return std::nullopt;
  return it->second;
}

std::vector<int64_t> int_tuple(const ObjPtr& o, const std::string& file, const char* what) {
  if (o->kind != Obj::Kind::kTuple && o->kind != Obj::Kind::kList)
    fail(file, std::string(what) + " is not a tuple");
  std::vector<int64_t> v;
  for (const auto& x : o->items) {
    if (x->kind != Obj::Kind::kInt) fail(file, std::string(what) + " holds a non-integer");
    v.push_back(x->i);
  }
  return v;
}

// Runs one pickle from `in` (up to and including STOP). `persistent_load` turns a persistent id into
// a storage object.
ObjPtr unpickle(Reader& in, const std::function<ObjPtr(const ObjPtr&)>& persistent_load) {
  const std::string& file = in.file();
  std::vector<ObjPtr> stack;
  std::vector<size_t> marks;
  std::unordered_map<uint32_t, ObjPtr> memo;
  auto pop = [&]() {
    if (stack.empty()) fail(file, "corrupt pickle (stack underflow)");
    ObjPtr o = stack.back();
    stack.pop_back();
    return o;
  };
  auto top = [&]() -> ObjPtr& {
    if (stack.empty()) fail(file, "corrupt pickle (empty stack)");
    return stack.back();
  };
  auto pop_mark = [&]() {
    if (marks.empty() || marks.back() > stack.size()) fail(file, "corrupt pickle (no MARK)");
    size_t m = marks.back();
    marks.pop_back();
    std::vector<ObjPtr> items(stack.begin() + static_cast<long>(m), stack.end());
    stack.resize(m);
    return items;
  };
  auto set_items = [&](const ObjPtr& dict, std::vector<ObjPtr>& kv) {
    if (dict->kind != Obj::Kind::kDict) fail(file, "corrupt pickle (SETITEM on a non-dict)");
    if (kv.size() % 2) fail(file, "corrupt pickle (odd SETITEMS)");
    for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
  };
  auto tuple_of = [&](std::vector<ObjPtr> items) {
    auto t = make(Obj::Kind::kTuple);
    t->items = std::move(items);
    return t;
  };
  auto memo_get = [&](uint32_t k) {
    auto it = memo.find(k);
    if (it == memo.end()) fail(file, "corrupt pickle (memo key " + std::to_string(k) + " missing)");
    return it->second;
  };
  auto reduce = [&](const ObjPtr& fn, const ObjPtr& args) -> ObjPtr {
    if (fn->kind != Obj::Kind::kGlobal || args->kind != Obj::Kind::kTuple)
      fail(file, "corrupt pickle (bad REDUCE)");
    const auto& a = args->items;
    if (fn->s == "collections.OrderedDict" || fn->s == "builtins.dict") {
      auto d = make(Obj::Kind::kDict);
      if (!a.empty() && a[0]->kind == Obj::Kind::kList)  // OrderedDict([(k, v), ...])
        for (const auto& kv : a[0]->items)
          if (kv->items.size() == 2) d->entries.emplace_back(kv->items[0], kv->items[1]);
      return d;
    }
    if (fn->s == "torch._utils._rebuild_tensor_v2" || fn->s == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != Obj::Kind::kStorage || a[1]->kind != Obj::Kind::kInt)
        fail(file, "unexpected arguments to " + fn->s);
      auto t = make(Obj::Kind::kTensor);
      t->storage = a[0]->storage;
      t->offset = a[1]->i;
      t->sizes = int_tuple(a[2], file, "tensor size");
      t->strides = int_tuple(a[3], file, "tensor stride");
      if (t->sizes.size() != t->strides.size()) fail(file, "tensor size and stride differ in rank");
      return t;
    }
    if (fn->s == "torch._utils._rebuild_parameter" || fn->s == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != Obj::Kind::kTensor) fail(file, "unexpected arguments to " + fn->s);
      return a[0];
    }
    fail(file, "unsupported object '" + fn->s + "' (only tensors, dicts, lists and plain values are read)");
  };

  for (;;) {
    const uint8_t op = in.u8();
    switch (op) {
      case 0x80:
        in.u8();
        break;  // PROTO
      case 0x95:
        in.take(8);
        break;  // FRAME (framing is irrelevant for a buffer)
      case '.':
        return pop();  // STOP
      case '(':
        marks.push_back(stack.size());
        break;  // MARK
      case 'N':
        stack.push_back(make(Obj::Kind::kNone));
        break;
      case 0x88:
      case 0x89: {
        auto b = make(Obj::Kind::kBool);
        b->i = op == 0x88;
        stack.push_back(b);
        break;
      }
      case 'J':
        stack.push_back(make_int(static_cast<int32_t>(in.le(4))));
        break;
      case 'K':
        stack.push_back(make_int(in.u8()));
        break;
      case 'M':
        stack.push_back(make_int(static_cast<int64_t>(in.le(2))));
        break;
      case 0x8a:    // LONG1
      case 0x8b: {  // LONG4
        const size_t n = op == 0x8a ? in.u8() : in.le(4);
        if (n > 8) {  // only the legacy magic number is this long; keep its low 64 bits
          const uint8_t* b = in.take(n);
          uint64_t v = 0;
          for (size_t i = 0; i < 8; ++i) v |= uint64_t(b[i]) << (8 * i);
          stack.push_back(make_int(static_cast<int64_t>(v)));
          break;
        }
        uint64_t v = n ? in.le(n) : 0;
        if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);  // sign-extend
        stack.push_back(make_int(static_cast<int64_t>(v)));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        const uint8_t* b = in.take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = bits << 8 | b[i];
        auto o = make(Obj::Kind::kFloat);
        std::memcpy(&o->f, &bits, 8);
        stack.push_back(o);
        break;
      }
      case 'X':    // BINUNICODE
      case 'T':    // BINSTRING
      case 'B':    // BINBYTES
      case 0x8c:   // SHORT_BINUNICODE
      case 'U':    // SHORT_BINSTRING
      case 'C': {  // SHORT_BINBYTES
        const size_t n = (op == 'X' || op == 'T' || op == 'B') ? in.le(4) : in.u8();
        const uint8_t* b = in.take(n);
        stack.push_back(make_str(std::string(reinterpret_cast<const char*>(b), n)));
        break;
      }
      case 'c': {  // GLOBAL module\nname\n
        auto g = make(Obj::Kind::kGlobal);
        std::string module = in.line();
        g->s = module + "." + in.line();
        stack.push_back(g);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        ObjPtr name = pop(), module = pop();
        if (name->kind != Obj::Kind::kString || module->kind != Obj::Kind::kString)
          fail(file, "corrupt STACK_GLOBAL");
        auto g = make(Obj::Kind::kGlobal);
        g->s = module->s + "." + name->s;
        stack.push_back(g);
        break;
      }
      case 'q':
        memo[in.u8()] = top();
        break;
      case 'r':
        memo[static_cast<uint32_t>(in.le(4))] = top();
        break;
      case 0x94:
        memo[static_cast<uint32_t>(memo.size())] = top();
        break;
      case 'h':
        stack.push_back(memo_get(in.u8()));
        break;
      case 'j':
        stack.push_back(memo_get(static_cast<uint32_t>(in.le(4))));
        break;
      case '}':
        stack.push_back(make(Obj::Kind::kDict));
        break;
      case ']':
        stack.push_back(make(Obj::Kind::kList));
        break;
      case ')':
        stack.push_back(make(Obj::Kind::kTuple));
        break;
      case 't':
        stack.push_back(tuple_of(pop_mark()));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        const size_t n = op - 0x84;
        if (stack.size() < n) fail(file, "corrupt pickle (short TUPLE)");
        std::vector<ObjPtr> items(stack.end() - static_cast<long>(n), stack.end());
        stack.resize(stack.size() - n);
        stack.push_back(tuple_of(std::move(items)));
        break;
      }
      case 'l': {  // LIST
        auto l = make(Obj::Kind::kList);
        l->items = pop_mark();
        stack.push_back(l);
        break;
      }
      case 'd': {  // DICT
        auto d = make(Obj::Kind::kDict);
        auto kv = pop_mark();
        set_items(d, kv);
        stack.push_back(d);
        break;
      }
      case 'a': {
        ObjPtr v = pop();
        if (top()->kind != Obj::Kind::kList) fail(file, "corrupt pickle (APPEND to a non-list)");
        top()->items.push_back(v);
        break;
      }
      case 'e': {
        auto items = pop_mark();
        if (top()->kind != Obj::Kind::kList) fail(file, "corrupt pickle (APPENDS to a non-list)");
        top()->items.insert(top()->items.end(), items.begin(), items.end());
        break;
      }
      case 's': {
        std::vector<ObjPtr> kv(2);
        kv[1] = pop();
        kv[0] = pop();
        set_items(top(), kv);
        break;
      }
      case 'u': {
        auto kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case 'R': {
        ObjPtr args = pop(), fn = pop();
        stack.push_back(reduce(fn, args));
        break;
      }
      case 0x81: {  // NEWOBJ cls args: only OrderedDict-like classes appear in state dicts
        ObjPtr args = pop(), cls = pop();
        stack.push_back(reduce(cls, args));
        break;
      }
      case 'b':
        pop();
        break;     // BUILD: object state (e.g. a state dict's _metadata) is not needed
      case 'Q': {  // BINPERSID
        ObjPtr pid = pop();
        stack.push_back(persistent_load(pid));
        break;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(file, std::string("unsupported pickle opcode ") + hex);
      }
    }
  }
}

// Parses a persistent id ('storage', storage_type, key, location, numel[, view_metadata]).
ObjPtr storage_from_pid(const ObjPtr& pid, const std::string& file,
                        std::unordered_map<std::string, std::shared_ptr<Storage>>& storages) {
  if (pid->kind != Obj::Kind::kTuple || pid->items.size() < 5 || pid->items[0]->kind != Obj::Kind::kString ||
      pid->items[0]->s != "storage")
    fail(file, "unexpected persistent id (not a storage)");
  const auto& a = pid->items;
  if (a[1]->kind != Obj::Kind::kGlobal) fail(file, "storage type is not a class");
  auto dtype = storage_dtype(a[1]->s);
  if (!dtype) fail(file, "unsupported storage type '" + a[1]->s + "'");
  if (a[2]->kind != Obj::Kind::kString || a[4]->kind != Obj::Kind::kInt || a[4]->i < 0)
    fail(file, "malformed storage id");
  if (a.size() > 5 && a[5]->kind != Obj::Kind::kNone) fail(file, "storage views are not supported");
  auto& st = storages[a[2]->s];
  if (!st) {
    st = std::make_shared<Storage>();
    st->dtype = *dtype;
    st->key = a[2]->s;
    st->numel = a[4]->i;
  }
  auto o = make(Obj::Kind::kStorage);
  o->storage = st;
  return o;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  int exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ff;
      bits = sign | uint32_t(exp + 127 - 15) << 23 | mant << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | uint32_t(exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

double element(const Storage& s, int64_t index) {
  const uint8_t* p = s.data + index * static_cast<int64_t>(dtype_size(s.dtype));
  switch (s.dtype) {
    case DType::kFloat: {
      float v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::kDouble: {
      double v;
      std::memcpy(&v, p, 8);
      return v;
    }
    case DType::kHalf: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return half_to_float(v);
    }
    case DType::kLong: {
      int64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<double>(v);
    }
    case DType::kInt: {
      int32_t v;
      std::memcpy(&v, p, 4);
      return v;
    }
    case DType::kShort: {
      int16_t v;
      std::memcpy(&v, p, 2);
      return v;
    }
    case DType::kChar:
      return static_cast<int8_t>(*p);
    default:
      return *p;
  }
}

// A strided view into a storage, copied out as a contiguous float32 tensor.
Tensor materialize(const Obj& t, const std::string& file) {
  const Storage& s = *t.storage;
  if (!s.loaded) fail(file, "storage '" + s.key + "' has no data");
  Tensor out;
  out.shape = t.sizes;
  const int64_t n = out.numel();
  if (n < 0) fail(file, "negative tensor size");
  // Bounds: the largest index the view touches must lie inside the storage.
  int64_t max_index = t.offset;
  for (size_t d = 0; d < t.sizes.size(); ++d) {
    if (t.sizes[d] < 0 || t.strides[d] < 0) fail(file, "negative tensor size or stride");
    if (t.sizes[d] > 0) max_index += (t.sizes[d] - 1) * t.strides[d];
  }
  if (n > 0 && (t.offset < 0 || max_index >= s.numel))
    fail(file, "tensor view exceeds its storage '" + s.key + "'");
  out.data.resize(static_cast<size_t>(n));
  const size_t rank = t.sizes.size();
  std::vector<int64_t> idx(rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t src = t.offset;
    for (size_t d = 0; d < rank; ++d) src += idx[d] * t.strides[d];
    out.data[static_cast<size_t>(i)] = static_cast<float>(element(s, src));
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < t.sizes[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// Bounds on what a pickle may expand to: shared references let a few hundred bytes describe a DAG of
// 2^40 values (each level a list holding the one below twice), and a cycle would recurse forever.
struct ConvertBudget {
  static constexpr int kMaxDepth = 256;  // state dicts nest 2-4 deep
  // Values produced in all. Without shared containers a pickle yields at most one value per opcode
  // byte, so a file's size bounds an honest one; the slack covers small shared tuples.
  size_t max_values = 0;
  size_t values = 0;
  std::unordered_set<const Obj*> path;             // the containers being converted: a cycle's witness
};

TorchValue convert_value(const ObjPtr& o, const std::string& file, ConvertBudget& budget);

TorchValue convert(const ObjPtr& o, const std::string& file, ConvertBudget& budget) {
  if (++budget.values > budget.max_values)
    fail(file, "the pickle expands to more than " + std::to_string(budget.max_values) +
                   " values (shared references); not a torch.save file facepipe reads");
  const bool container = o->kind == Obj::Kind::kList || o->kind == Obj::Kind::kTuple || o->kind == Obj::Kind::kDict;
  if (container) {
    if (budget.path.size() >= ConvertBudget::kMaxDepth)
      fail(file, "the pickle nests more than " + std::to_string(ConvertBudget::kMaxDepth) + " containers deep");
    if (!budget.path.insert(o.get()).second) fail(file, "the pickle holds a container inside itself (a cycle)");
  }
  TorchValue v = convert_value(o, file, budget);
  if (container) budget.path.erase(o.get());
  return v;
}

TorchValue convert_value(const ObjPtr& o, const std::string& file, ConvertBudget& budget) {
  TorchValue v;
  switch (o->kind) {
    case Obj::Kind::kNone:
      v.kind = TorchValue::Kind::kNone;
      break;
    case Obj::Kind::kBool:
      v.kind = TorchValue::Kind::kBool;
      v.int_value = o->i;
      break;
    case Obj::Kind::kInt:
      v.kind = TorchValue::Kind::kInt;
      v.int_value = o->i;
      break;
    case Obj::Kind::kFloat:
      v.kind = TorchValue::Kind::kFloat;
      v.float_value = o->f;
      break;
    case Obj::Kind::kString:
      v.kind = TorchValue::Kind::kString;
      v.string_value = o->s;
      break;
    case Obj::Kind::kList:
    case Obj::Kind::kTuple:
      v.kind = o->kind == Obj::Kind::kList ? TorchValue::Kind::kList : TorchValue::Kind::kTuple;
      for (const auto& x : o->items) v.items.push_back(convert(x, file, budget));
      break;
    case Obj::Kind::kDict:
      v.kind = TorchValue::Kind::kDict;
      for (const auto& [k, x] : o->entries)
        v.entries.emplace_back(convert(k, file, budget), convert(x, file, budget));
      break;
    case Obj::Kind::kTensor:
      v.kind = TorchValue::Kind::kTensor;
      v.tensor = materialize(*o, file);
      break;
    default:
      fail(file, "unexpected object in the pickle");
  }
  return v;
}

Bytes read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::kNotFound, "cannot open weight file '" + path.string() +
                                          "'; check the models directory (--models-dir / FACEPIPE_MODELS)");
  // Sized from the file, read in one call: growing a vector through stream iterators held a 94 MB file in
  // a 134 MB buffer (capacity doubling), the largest allocation of an InceptionResnetV1 engine.
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0)
    throw Error(ErrorKind::kNotFound,
                "cannot read weight file '" + path.string() + "' (not a regular file?)");
  Bytes bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size))
    throw Error(ErrorKind::kNotFound, "cannot read weight file '" + path.string() + "': it ended early");
  return bytes;
}

// Points `s` at `size` bytes at `data`, inside the buffer `owner`.
// A weight file's bytes: mapped read-only where the file can be (its pages then leave the process as
// release_pages drops them, instead of staying in a heap buffer the size of the file), else read.
struct FileBytes {
  std::shared_ptr<const void> owner;
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool mapped = false;
};

FileBytes map_or_read(const std::filesystem::path& path) {
  FileBytes f;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    void* m = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (m != MAP_FAILED) {
      const size_t size = static_cast<size_t>(st.st_size);
      f.owner =
          std::shared_ptr<const void>(m, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
      f.data = static_cast<const uint8_t*>(m);
      f.size = size;
      f.mapped = true;
      return f;
    }
  } else if (fd >= 0) {
    ::close(fd);
  }
  auto bytes = std::make_shared<const Bytes>(read_all(path));
  f.data = bytes->data();
  f.size = bytes->size();
  f.owner = std::move(bytes);
  return f;
}

// Points `s` at `size` bytes at `data`, inside the buffer `owner` keeps alive.
void fill_storage(Storage& s, const std::shared_ptr<const void>& owner, const uint8_t* data, size_t size,
                  bool mapped, const std::string& file) {
  const size_t want = static_cast<size_t>(s.numel) * dtype_size(s.dtype);
  if (size < want) fail(file, "storage '" + s.key + "' is truncated");
  s.owner = owner;
  s.data = data;
  s.mapped = mapped;
  s.loaded = true;
}

// Drops the whole pages of a mapped storage once its tensor has been copied out: without it the mapped file
// stays resident beside the tensors until the load ends (94 MB for InceptionResnetV1). Reading them again
// (a storage shared by two tensors) faults them back in from the file: correct either way.
void release_pages(const Storage& s) {
  if (!s.mapped) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(s.data);
  const uintptr_t end = begin + static_cast<uintptr_t>(s.numel) * dtype_size(s.dtype);
  const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

ObjPtr load_legacy(const FileBytes& file_bytes, const std::string& file) {
  Reader in(file_bytes.data, file_bytes.size, file);
  std::unordered_map<std::string, std::shared_ptr<Storage>> storages;
  auto no_pid = [&](const ObjPtr&) -> ObjPtr { fail(file, "unexpected persistent id in a header pickle"); };
  ObjPtr magic = unpickle(in, no_pid);
  // 0x1950a86a20f9469cfc6c, low 64 bits as the LONG1 reader keeps them.
  if (magic->kind != Obj::Kind::kInt || static_cast<uint64_t>(magic->i) != 0xa86a20f9469cfc6cULL)
    fail(file, "wrong magic number");
  ObjPtr protocol = unpickle(in, no_pid);
  if (protocol->kind != Obj::Kind::kInt || protocol->i != 1001)
    fail(file, "unsupported legacy protocol version");
  unpickle(in, no_pid);  // sys_info: endianness and type sizes; torch only writes little-endian files
  ObjPtr root = unpickle(in, [&](const ObjPtr& pid) { return storage_from_pid(pid, file, storages); });
  ObjPtr keys = unpickle(in, no_pid);
  if (keys->kind != Obj::Kind::kList) fail(file, "storage key list missing");
  for (const auto& k : keys->items) {
    if (k->kind != Obj::Kind::kString) fail(file, "storage key is not a string");
    const int64_t numel = static_cast<int64_t>(in.le(8));
    auto it = storages.find(k->s);
    if (it == storages.end()) fail(file, "data for unknown storage '" + k->s + "'");
    Storage& s = *it->second;
    if (numel != s.numel) fail(file, "storage '" + s.key + "' has an inconsistent size");
    const size_t n = static_cast<size_t>(numel) * dtype_size(s.dtype);
    if (numel < 0 || n / dtype_size(s.dtype) != static_cast<size_t>(numel))
      fail(file, "storage size overflows");
    fill_storage(s, file_bytes.owner, in.take(n), n, file_bytes.mapped, file);
  }
  return root;
}

ObjPtr load_zip(const std::filesystem::path& path, const std::string& file) {
  int err = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!archive) fail(file, "broken zip archive (libzip error " + std::to_string(err) + ")");
  std::unique_ptr<zip_t, decltype(&zip_discard)> guard(archive, &zip_discard);
  auto read_entry = [&](zip_int64_t index) {
    zip_stat_t st;
    if (zip_stat_index(archive, static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
      fail(file, "unreadable zip entry");
    zip_file_t* zf = zip_fopen_index(archive, static_cast<zip_uint64_t>(index), 0);
    if (!zf) fail(file, "unreadable zip entry");
    Bytes data(st.size);
    const zip_int64_t got = zip_fread(zf, data.data(), st.size);
    zip_fclose(zf);
    if (got < 0 || static_cast<zip_uint64_t>(got) != st.size) fail(file, "truncated zip entry");
    return data;
  };
  std::string prefix;
  zip_int64_t pkl = -1;
  const zip_int64_t count = zip_get_num_entries(archive, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const std::string name = zip_get_name(archive, static_cast<zip_uint64_t>(i), 0);
    const std::string suffix = "data.pkl";
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        std::count(name.begin(), name.end(), '/') == 1) {
      pkl = i;
      prefix = name.substr(0, name.size() - suffix.size());
    }
  }
  if (pkl < 0) fail(file, "zip archive without data.pkl (not a torch.save file)");
  const Bytes pickle = read_entry(pkl);
  Reader in(pickle.data(), pickle.size(), file);
  std::unordered_map<std::string, std::shared_ptr<Storage>> storages;
  ObjPtr root = unpickle(in, [&](const ObjPtr& pid) { return storage_from_pid(pid, file, storages); });
  for (auto& [key, storage] : storages) {
    const std::string entry = prefix + "data/" + key;
    const zip_int64_t index = zip_name_locate(archive, entry.c_str(), 0);
    if (index < 0) fail(file, "storage entry '" + entry + "' missing");
    const auto data = std::make_shared<const Bytes>(read_entry(index));
    fill_storage(*storage, data, data->data(), data->size(), false, file);
  }
  return root;
}

ObjPtr load_any(const std::filesystem::path& path) {
  const std::string file = path.string();
  FileBytes file_bytes = map_or_read(path);
  const uint8_t* bytes = file_bytes.data;
  const size_t size = file_bytes.size;
  if (size >= 4 && bytes[0] == 'P' && bytes[1] == 'K' && bytes[2] == 3 && bytes[3] == 4) {
    file_bytes = {};  // libzip reads the entries from the file itself
    return load_zip(path, file);
  }
  if (size >= 2 && bytes[0] == 0x80 && bytes[1] == 0x02) return load_legacy(file_bytes, file);
  fail(file, size == 0 ? "the file is empty" : "neither a zip archive nor a legacy pickle (foreign file?)");
}

}  // namespace

const Tensor& expect(const StateDict& dict, const std::string& name, const std::vector<int64_t>& shape) {
  auto it = dict.find(name);
  if (it == dict.end())
    throw Error(ErrorKind::kInvalidInput, "weights lack '" + name + "'; is this the right model file?");
  if (it->second.shape != shape) {
    auto str = [](const std::vector<int64_t>& s) {
      std::string out = "[";
      for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
      return out + "]";
    };
    throw Error(ErrorKind::kInvalidInput,
                "weight '" + name + "' has shape " + str(it->second.shape) + ", expected " + str(shape));
  }
  return it->second;
}

TorchValue load_torch_object(const std::filesystem::path& path) {
  const ObjArena arena;  // first: it outlives every object of the load
  ObjPtr root = load_any(path);
  std::error_code size_error;
  const auto bytes = std::filesystem::file_size(path, size_error);
  ConvertBudget budget;
  budget.max_values = 4 * static_cast<size_t>(size_error ? 0 : bytes) + 65536;
  return convert(root, path.string(), budget);
}

StateDict load_state_dict(const std::filesystem::path& path, const std::vector<std::string>& skip_prefixes) {
  const ObjArena arena;  // first: it outlives every object of the load
  const std::string file = path.string();
  ObjPtr root = load_any(path);
  if (root->kind != Obj::Kind::kDict) fail(file, "not a state dict (top-level object is not a dict)");
  StateDict out;
  for (const auto& [key, value] : root->entries) {
    if (key->kind != Obj::Kind::kString) fail(file, "state dict key is not a string");
    const std::string& name = key->s;
    if (std::any_of(skip_prefixes.begin(), skip_prefixes.end(),
                    [&](const std::string& p) { return name.rfind(p, 0) == 0; }))
      continue;
    if (name.size() >= 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0) continue;
    if (value->kind != Obj::Kind::kTensor) fail(file, "state dict entry '" + name + "' is not a tensor");
    out.emplace(name, materialize(*value, file));
    release_pages(*value->storage);
  }
  return out;
}

}  // namespace facepipe::weights
