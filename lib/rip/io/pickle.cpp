// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/io/pickle.h"

#include <cstring>
#include <limits>
#include <unordered_map>

#include "rip/error.h"
#include "rip/io/bytes.h"

namespace rip::io {

namespace {

enum class Kind : uint8_t {
  None,
  Bool,
  Int,
  BigInt,
  Float,
  Str,
  Bytes,
  List,
  Tuple,
  Dict,
  Global,
  Storage,
  Tensor,
};

// The only callables and classes a state dict names.
enum class Callable : uint8_t {
  OrderedDict,
  RebuildTensorV2,
  RebuildTensor,
  RebuildParameter,
  RebuildParameterWithState,
  StorageType,
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::BigInt: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Bytes: return "bytes";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

struct Node {
  Kind kind = Kind::None;
  Callable callable = Callable::OrderedDict;  // Kind::Global
  DType dtype = DType::F32;                   // Kind::Global StorageType
  int64_t i = 0;  // Bool/Int value; Storage/Tensor: index into the tables
  double f = 0;
  std::string s;                // Str, Bytes, BigInt (little-endian two's complement)
  std::vector<uint32_t> items;  // List/Tuple; Dict: key, value, key, value...
};

struct StorageTypeName {
  const char* name;
  DType dtype;
};
constexpr StorageTypeName kStorageTypes[] = {
    {"FloatStorage", DType::F32},
    {"DoubleStorage", DType::F64},
    {"HalfStorage", DType::F16},
    {"BFloat16Storage", DType::BF16},
    {"LongStorage", DType::I64},
    {"IntStorage", DType::I32},
    {"ShortStorage", DType::I16},
    {"CharStorage", DType::I8},
    {"ByteStorage", DType::U8},
    {"BoolStorage", DType::Bool},
};

}  // namespace

class PickleGraph {
 public:
  std::vector<Node> nodes;
  std::vector<PickledStorage> storages;
  std::vector<PickledTensor> tensors;
  std::unordered_map<std::string, size_t> storage_by_id;
  std::unordered_map<std::string, std::pair<int, uint64_t>> root_by_key;
};

namespace {

// One pickle run over data[begin, size).
class Machine {
 public:
  Machine(const uint8_t* data, size_t size, size_t begin, const std::string& what, PickleGraph& g)
      : data_(data), size_(size), pos_(begin), what_(what), g_(g) {}

  // Returns the root value; pos() is just after STOP.
  uint32_t run();
  size_t pos() const { return pos_; }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(what_ + ": " + msg + " (at byte " + std::to_string(op_pos_) +
        " of the pickle data; the file is corrupt or not a PyTorch "
        "checkpoint)");
  }
  [[noreturn]] void refuse(const std::string& name) const {
    throw Error(what_ + ": refused to load: the file names '" + name +
        "', which a state dict of tensors never needs (this reader only "
        "accepts tensors and plain containers and never runs code from a "
        "file). If you trust the file, load it in Python and re-save only "
        "the tensors: torch.save(dict(torch.load(f)), out)");
  }

  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_)
      fail("truncated pickle: needs " + std::to_string(n) + " more bytes, " +
          std::to_string(size_ - pos_) + " left");
    const uint8_t* p = data_ + pos_;
    pos_ += size_t(n);
    return p;
  }
  uint64_t le(int bytes) { return load_le(take(bytes), bytes); }
  std::string line() {
    size_t start = pos_;
    while (pos_ < size_ && data_[pos_] != '\n') {
      if (pos_ - start > 256) fail("text line longer than 256 bytes");
      pos_++;
    }
    if (pos_ >= size_) fail("truncated pickle: a text line has no end");
    std::string s(reinterpret_cast<const char*>(data_ + start), pos_ - start);
    pos_++;
    return s;
  }

  uint32_t add(Node n) {
    if (g_.nodes.size() >= kMaxPickleNodes)
      fail("more than " + std::to_string(kMaxPickleNodes) + " values");
    g_.nodes.push_back(std::move(n));
    return uint32_t(g_.nodes.size() - 1);
  }
  uint32_t add_kind(Kind k, int64_t i = 0) {
    Node n;
    n.kind = k;
    n.i = i;
    return add(std::move(n));
  }
  void push(uint32_t v) {
    if (stack_.size() >= kMaxPickleStack)
      fail("pickle stack deeper than " + std::to_string(kMaxPickleStack));
    stack_.push_back(v);
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  uint32_t pop() {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    uint32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  uint32_t top() const {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    return stack_.back();
  }
  // Items above the last MARK, which is removed.
  std::vector<uint32_t> pop_mark() {
    if (marks_.empty()) fail("pickle MARK missing");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + long(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  Node& node(uint32_t v) { return g_.nodes[v]; }
  Node& expect(uint32_t v, Kind k, const char* role) {
    Node& n = node(v);
    if (n.kind != k)
      fail(std::string(role) + " is a " + kind_name(n.kind) + ", expected a " + kind_name(k));
    return n;
  }
  uint32_t make_seq(Kind k, std::vector<uint32_t> items) {
    Node n;
    n.kind = k;
    n.items = std::move(items);
    return add(std::move(n));
  }
  void memo_put(uint64_t index) {
    if (index > std::numeric_limits<uint32_t>::max()) fail("memo index out of range");
    memo_[uint32_t(index)] = top();
  }
  void memo_get(uint64_t index) {
    auto it =
        index <= std::numeric_limits<uint32_t>::max() ? memo_.find(uint32_t(index)) : memo_.end();
    if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " read before written");
    push(it->second);
  }
  void dict_add(uint32_t dict, const std::vector<uint32_t>& kv) {
    Node& d = expect(dict, Kind::Dict, "SETITEMS target");
    if (kv.size() % 2) fail("SETITEMS with an odd number of items");
    d.items.insert(d.items.end(), kv.begin(), kv.end());
  }
  int64_t int_of(uint32_t v, const char* role) {
    Node& n = node(v);
    if (n.kind == Kind::Int || n.kind == Kind::Bool) return n.i;
    fail(std::string(role) + " is a " + kind_name(n.kind) + ", expected an int");
  }
  std::vector<int64_t> ints_of(uint32_t v, const char* role) {
    Node& n = node(v);
    if (n.kind != Kind::Tuple && n.kind != Kind::List)
      fail(std::string(role) + " is a " + kind_name(n.kind) + ", expected a tuple of ints");
    std::vector<int64_t> out;
    for (uint32_t item : n.items) out.push_back(int_of(item, role));
    return out;
  }

  void do_global(const std::string& module, const std::string& name);
  uint32_t persistent_load(uint32_t pid);
  uint32_t call(uint32_t callable, uint32_t args);
  uint32_t rebuild_tensor(const std::vector<uint32_t>& a);

  const uint8_t* data_;
  size_t size_;
  size_t pos_;
  size_t op_pos_ = 0;
  const std::string& what_;
  PickleGraph& g_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, uint32_t> memo_;
};

void Machine::do_global(const std::string& module, const std::string& name) {
  Node n;
  n.kind = Kind::Global;
  if (module == "collections" && name == "OrderedDict") {
    n.callable = Callable::OrderedDict;
  } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
    n.callable = Callable::RebuildTensorV2;
  } else if (module == "torch._utils" && name == "_rebuild_tensor") {
    n.callable = Callable::RebuildTensor;
  } else if (module == "torch._utils" && name == "_rebuild_parameter") {
    n.callable = Callable::RebuildParameter;
  } else if (module == "torch._utils" && name == "_rebuild_parameter_with_state") {
    n.callable = Callable::RebuildParameterWithState;
  } else {
    bool found = false;
    if (module == "torch") {
      for (const auto& st : kStorageTypes) {
        if (name == st.name) {
          n.callable = Callable::StorageType;
          n.dtype = st.dtype;
          found = true;
        }
      }
    }
    if (!found) refuse(module + "." + name);
  }
  n.s = module + "." + name;
  push(add(std::move(n)));
}

std::pair<int, uint64_t> index_pair(const PickledStorage& s) {
  return {int(s.dtype), s.root_numel};
}

// ('storage', torch.XStorage, key, location, numel[, view_metadata])
uint32_t Machine::persistent_load(uint32_t pid) {
  Node& t = expect(pid, Kind::Tuple, "persistent id");
  const std::vector<uint32_t> a = t.items;
  if (a.size() != 5 && a.size() != 6)
    fail("persistent id has " + std::to_string(a.size()) +
        " fields, "
        "expected ('storage', type, key, location, numel[, view])");
  if (node(a[0]).kind != Kind::Str || node(a[0]).s != "storage")
    fail("persistent id is not a storage record");
  const Node& type = node(a[1]);
  if (type.kind != Kind::Global || type.callable != Callable::StorageType)
    fail("storage record names no torch.*Storage type");
  const Node& key = expect(a[2], Kind::Str, "storage key");
  const Node& loc = expect(a[3], Kind::Str, "storage location");
  const int64_t numel = int_of(a[4], "storage size");
  if (numel < 0 || uint64_t(numel) > (uint64_t(1) << 56))
    fail("storage size " + std::to_string(numel) + " out of range");
  PickledStorage s;
  s.key = key.s;
  s.dtype = type.dtype;
  s.root_numel = s.numel = uint64_t(numel);
  s.location = loc.s;
  std::string id = key.s;
  if (a.size() == 6 && node(a[5]).kind != Kind::None) {
    // Legacy storage view: (view_key, offset, view_size) of root `key`.
    const Node& v = expect(a[5], Kind::Tuple, "storage view");
    if (v.items.size() != 3) fail("storage view is not (key, offset, size)");
    const Node& vkey = expect(v.items[0], Kind::Str, "storage view key");
    const int64_t off = int_of(v.items[1], "storage view offset");
    const int64_t n = int_of(v.items[2], "storage view size");
    if (off < 0 || n < 0 || uint64_t(off) > s.root_numel ||
        uint64_t(n) > s.root_numel - uint64_t(off))
      fail("storage view [" + std::to_string(off) + ", +" + std::to_string(n) +
          ") lies outside its storage of " + std::to_string(s.root_numel) + " elements");
    s.offset = uint64_t(off);
    s.numel = uint64_t(n);
    id = vkey.s + "@view";
  }
  auto it = g_.storage_by_id.find(id);
  size_t index;
  if (it != g_.storage_by_id.end()) {
    index = it->second;
    const PickledStorage& old = g_.storages[index];
    if (old.dtype != s.dtype || old.numel != s.numel || old.offset != s.offset)
      fail("storage '" + s.key + "' is described twice differently");
  } else {
    // Different views of one root must agree on the root's type and size.
    auto root = g_.root_by_key.emplace(s.key, index_pair(s));
    if (root.first->second != index_pair(s))
      fail("storage '" + s.key + "' is described twice differently");
    index = g_.storages.size();
    g_.storages.push_back(std::move(s));
    g_.storage_by_id.emplace(id, index);
  }
  return add_kind(Kind::Storage, int64_t(index));
}

uint32_t Machine::rebuild_tensor(const std::vector<uint32_t>& a) {
  const Node& st = expect(a[0], Kind::Storage, "tensor storage");
  const PickledStorage& storage = g_.storages[size_t(st.i)];
  const int64_t offset = int_of(a[1], "tensor storage offset");
  PickledTensor t;
  t.storage = size_t(st.i);
  t.shape = ints_of(a[2], "tensor size");
  t.stride = ints_of(a[3], "tensor stride");
  if (t.shape.size() != t.stride.size()) fail("tensor size and stride differ in length");
  if (t.shape.size() > size_t(kMaxTensorDims))
    fail("tensor with more than " + std::to_string(kMaxTensorDims) + " dimensions");
  if (offset < 0) fail("negative tensor storage offset");
  t.offset = uint64_t(offset);
  // Every element the tensor can address must lie inside the storage.
  const uint64_t limit = uint64_t(1) << 56;
  uint64_t numel = 1, last = t.offset;
  for (size_t d = 0; d < t.shape.size(); d++) {
    if (t.shape[d] < 0 || t.stride[d] < 0) fail("tensor with a negative size or stride");
    if (t.shape[d] == 0)
      numel = 0;
    else if (numel && uint64_t(t.shape[d]) > limit / numel)
      fail("tensor size overflows");
    else if (numel)
      numel *= uint64_t(t.shape[d]);
  }
  if (numel > 0) {
    for (size_t d = 0; d < t.shape.size(); d++) {
      const uint64_t span = uint64_t(t.shape[d] - 1);
      const uint64_t stride = uint64_t(t.stride[d]);
      if (stride && span > limit / stride) fail("tensor stride overflows");
      last += span * stride;
      if (last > limit) fail("tensor stride overflows");
    }
    if (last >= storage.numel)
      fail("tensor reaches element " + std::to_string(last) + " of a storage of " +
          std::to_string(storage.numel));
  }
  g_.tensors.push_back(std::move(t));
  return add_kind(Kind::Tensor, int64_t(g_.tensors.size() - 1));
}

uint32_t Machine::call(uint32_t callable, uint32_t args) {
  const Node& c = node(callable);
  if (c.kind != Kind::Global)
    fail("REDUCE calls a " + std::string(kind_name(c.kind)) + ", not a function");
  const Callable which = c.callable;
  const std::string name = c.s;
  const std::vector<uint32_t> a = expect(args, Kind::Tuple, "REDUCE arguments").items;
  switch (which) {
    case Callable::OrderedDict: {
      Node d;
      d.kind = Kind::Dict;
      if (a.size() > 1) fail("OrderedDict called with " + std::to_string(a.size()) + " arguments");
      if (a.size() == 1) {
        // Python 2's OrderedDict.__reduce__: ([[key, value], ...],)
        const Node& pairs = node(a[0]);
        if (pairs.kind != Kind::List && pairs.kind != Kind::Tuple)
          fail("OrderedDict called with a " + std::string(kind_name(pairs.kind)));
        for (uint32_t p : pairs.items) {
          const Node& kv = node(p);
          if ((kv.kind != Kind::List && kv.kind != Kind::Tuple) || kv.items.size() != 2)
            fail("OrderedDict item is not a (key, value) pair");
          d.items.push_back(kv.items[0]);
          d.items.push_back(kv.items[1]);
        }
      }
      return add(std::move(d));
    }
    case Callable::RebuildTensorV2:
      if (a.size() != 6 && a.size() != 7)
        fail("_rebuild_tensor_v2 called with " + std::to_string(a.size()) +
            " arguments, expected 6 or 7");
      return rebuild_tensor(a);
    case Callable::RebuildTensor:
      if (a.size() != 4)
        fail("_rebuild_tensor called with " + std::to_string(a.size()) + " arguments, expected 4");
      return rebuild_tensor(a);
    case Callable::RebuildParameter:
    case Callable::RebuildParameterWithState:
      if (a.size() != (which == Callable::RebuildParameter ? 3u : 4u))
        fail(name + " called with " + std::to_string(a.size()) + " arguments");
      expect(a[0], Kind::Tensor, "parameter data");
      return a[0];
    case Callable::StorageType: break;
  }
  refuse(name + "(...)");
}

uint32_t Machine::run() {
  for (;;) {
    op_pos_ = pos_;
    const uint8_t op = *take(1);
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t proto = *take(1);
        if (proto > 5)
          fail("pickle protocol " + std::to_string(proto) +
              " is newer than "
              "5");
        break;
      }
      case 0x95:  // FRAME: a length hint only
        le(8);
        break;
      case '.': {  // STOP
        // Like Python, the value on top is the result; anything left below
        // it is ignored.
        if (stack_.empty()) fail("pickle stack underflow");
        return stack_.back();
      }
      case '(':  // MARK
        if (marks_.size() >= kMaxPickleStack) fail("too many MARKs");
        marks_.push_back(stack_.size());
        break;
      case '0':  // POP
        if (!marks_.empty() && marks_.back() == stack_.size())
          marks_.pop_back();
        else
          pop();
        break;
      case '1':  // POP_MARK
        pop_mark();
        break;
      case '2':  // DUP
        push(top());
        break;
      case 'N': push(add_kind(Kind::None)); break;
      case 0x88:  // NEWTRUE
      case 0x89:  // NEWFALSE
        push(add_kind(Kind::Bool, op == 0x88));
        break;
      case 'J':  // BININT
        push(add_kind(Kind::Int, int32_t(uint32_t(le(4)))));
        break;
      case 'K':  // BININT1
        push(add_kind(Kind::Int, int64_t(le(1))));
        break;
      case 'M':  // BININT2
        push(add_kind(Kind::Int, int64_t(le(2))));
        break;
      case 0x8a:    // LONG1
      case 0x8b: {  // LONG4
        uint64_t n = op == 0x8a ? le(1) : le(4);
        if (op == 0x8b && n > 0x7fffffff) fail("negative LONG4 length");
        const uint8_t* p = take(n);
        if (n <= 8) {
          uint64_t v = load_le(p, int(n));
          if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
          push(add_kind(Kind::Int, int64_t(v)));
        } else {
          Node b;
          b.kind = Kind::BigInt;
          b.s.assign(reinterpret_cast<const char*>(p), size_t(n));
          push(add(std::move(b)));
        }
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int k = 0; k < 8; k++) bits = (bits << 8) | p[k];
        Node f;
        f.kind = Kind::Float;
        std::memcpy(&f.f, &bits, 8);
        push(add(std::move(f)));
        break;
      }
      case 'U':     // SHORT_BINSTRING (Python 2 str)
      case 'T':     // BINSTRING
      case 'X':     // BINUNICODE
      case 0x8c:    // SHORT_BINUNICODE
      case 0x8d:    // BINUNICODE8
      case 'C':     // SHORT_BINBYTES
      case 'B':     // BINBYTES
      case 0x8e: {  // BINBYTES8
        uint64_t n;
        if (op == 'U' || op == 0x8c || op == 'C')
          n = le(1);
        else if (op == 0x8d || op == 0x8e)
          n = le(8);
        else
          n = le(4);
        if (op == 'T' && n > 0x7fffffff) fail("negative BINSTRING length");
        const uint8_t* p = take(n);
        Node s;
        s.kind = (op == 'C' || op == 'B' || op == 0x8e) ? Kind::Bytes : Kind::Str;
        s.s.assign(reinterpret_cast<const char*>(p), size_t(n));
        push(add(std::move(s)));
        break;
      }
      case ']': push(add_kind(Kind::List)); break;
      case '}': push(add_kind(Kind::Dict)); break;
      case ')': push(add_kind(Kind::Tuple)); break;
      case 'l':  // LIST
        push(make_seq(Kind::List, pop_mark()));
        break;
      case 't':  // TUPLE
        push(make_seq(Kind::Tuple, pop_mark()));
        break;
      case 'd': {  // DICT
        uint32_t d = add_kind(Kind::Dict);
        dict_add(d, pop_mark());
        push(d);
        break;
      }
      case 0x85:    // TUPLE1
      case 0x86:    // TUPLE2
      case 0x87: {  // TUPLE3
        std::vector<uint32_t> items(size_t(op - 0x84));
        for (size_t k = items.size(); k-- > 0;) items[k] = pop();
        push(make_seq(Kind::Tuple, std::move(items)));
        break;
      }
      case 'a': {  // APPEND
        uint32_t v = pop();
        expect(top(), Kind::List, "APPEND target").items.push_back(v);
        break;
      }
      case 'e': {  // APPENDS
        std::vector<uint32_t> items = pop_mark();
        Node& l = expect(top(), Kind::List, "APPENDS target");
        l.items.insert(l.items.end(), items.begin(), items.end());
        break;
      }
      case 's': {  // SETITEM
        uint32_t v = pop();
        uint32_t k = pop();
        dict_add(top(), {k, v});
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<uint32_t> kv = pop_mark();
        dict_add(top(), kv);
        break;
      }
      case 'q':  // BINPUT
        memo_put(le(1));
        break;
      case 'r':  // LONG_BINPUT
        memo_put(le(4));
        break;
      case 0x94:  // MEMOIZE
        memo_put(memo_.size());
        break;
      case 'p':    // PUT (text)
      case 'g': {  // GET (text)
        const std::string digits = line();
        if (digits.empty() || digits.size() > 9 ||
            digits.find_first_not_of("0123456789") != std::string::npos)
          fail("bad memo index '" + digits + "'");
        if (op == 'p')
          memo_put(std::stoull(digits));
        else
          memo_get(std::stoull(digits));
        break;
      }
      case 'h':  // BINGET
        memo_get(le(1));
        break;
      case 'j':  // LONG_BINGET
        memo_get(le(4));
        break;
      case 'c': {  // GLOBAL
        std::string module = line();
        std::string name = line();
        do_global(module, name);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        uint32_t name = pop();
        uint32_t module = pop();
        const std::string n = expect(name, Kind::Str, "global name").s;
        const std::string m = expect(module, Kind::Str, "global module").s;
        do_global(m, n);
        break;
      }
      case 'Q': {  // BINPERSID
        uint32_t pid = pop();
        push(persistent_load(pid));
        break;
      }
      case 'R': {  // REDUCE
        uint32_t args = pop();
        uint32_t callable = pop();
        push(call(callable, args));
        break;
      }
      case 'b': {  // BUILD
        uint32_t state = pop();
        (void) state;
        // OrderedDict state ({'_metadata': ...}) is an attribute, not data.
        Node& target = node(top());
        if (target.kind != Kind::Dict)
          fail("BUILD (setting object state) on a " + std::string(kind_name(target.kind)) +
              " is not supported");
        break;
      }
      case 0x81:    // NEWOBJ
      case 0x92: {  // NEWOBJ_EX
        if (op == 0x92) pop();
        pop();
        const Node& cls = node(pop());
        refuse(cls.kind == Kind::Global ? cls.s + " (object creation)" : "an object creation");
      }
      case 'i':  // INST
      case 'o':  // OBJ
        refuse("an object creation (pickle INST/OBJ)");
      case 'P':  // PERSID (text): torch never writes it
        refuse("a text persistent id");
      default: {
        static const char* hex = "0123456789abcdef";
        fail(std::string("unsupported pickle opcode 0x") + hex[op >> 4] + hex[op & 15]);
      }
    }
  }
}

void flatten(const PickleGraph& g, uint32_t dict, const std::string& prefix, int depth,
    size_t& budget, const std::string& what, PickleResult& out) {
  const Node& d = g.nodes[dict];
  for (size_t k = 0; k + 1 < d.items.size(); k += 2) {
    if (budget-- == 0)
      throw Error(what +
          ": the state dict has too many entries (nested "
          "references?); the file is not a plain state dict");
    const Node& key = g.nodes[d.items[k]];
    const Node& value = g.nodes[d.items[k + 1]];
    std::string name;
    if (key.kind == Kind::Str)
      name = key.s;
    else if (key.kind == Kind::Int)
      name = std::to_string(key.i);
    else
      continue;
    name = prefix.empty() ? name : prefix + "." + name;
    if (value.kind == Kind::Tensor) {
      out.tensors.emplace_back(name, g.tensors[size_t(value.i)]);
    } else if (value.kind == Kind::Dict) {
      if (depth >= kMaxDictNesting)
        throw Error(what + ": dicts nested deeper than " + std::to_string(kMaxDictNesting) +
            " levels; the file is not a "
            "plain state dict");
      flatten(g, d.items[k + 1], name, depth + 1, budget, what, out);
    }
  }
}

}  // namespace

Unpickler::Unpickler(const uint8_t* data, size_t size, std::string what)
    : data_(data), size_(size), what_(std::move(what)), graph_(new PickleGraph) {}

Unpickler::~Unpickler() {
  delete graph_;
}

size_t Unpickler::load(size_t offset) {
  if (offset > size_)
    throw Error(
        what_ + ": truncated file: a pickle should start at byte " + std::to_string(offset));
  Machine m(data_, size_, offset, what_, *graph_);
  root_ = m.run();
  return m.pos();
}

bool Unpickler::is_big_int_bytes(const std::vector<uint8_t>& le_bytes) const {
  const Node& n = graph_->nodes[root_];
  return n.kind == Kind::BigInt && n.s.size() == le_bytes.size() &&
      std::memcmp(n.s.data(), le_bytes.data(), le_bytes.size()) == 0;
}

int64_t Unpickler::as_int() const {
  const Node& n = graph_->nodes[root_];
  if (n.kind != Kind::Int)
    throw Error(what_ + ": expected an int, found a " + std::string(kind_name(n.kind)));
  return n.i;
}

bool Unpickler::dict_bool(const std::string& key, bool fallback) const {
  const Node& n = graph_->nodes[root_];
  if (n.kind != Kind::Dict)
    throw Error(what_ + ": expected a dict, found a " + std::string(kind_name(n.kind)));
  for (size_t k = 0; k + 1 < n.items.size(); k += 2) {
    const Node& key_node = graph_->nodes[n.items[k]];
    const Node& value = graph_->nodes[n.items[k + 1]];
    if (key_node.kind == Kind::Str && key_node.s == key &&
        (value.kind == Kind::Bool || value.kind == Kind::Int))
      return value.i != 0;
  }
  return fallback;
}

std::vector<std::string> Unpickler::as_string_list() const {
  const Node& n = graph_->nodes[root_];
  if (n.kind != Kind::List && n.kind != Kind::Tuple)
    throw Error(
        what_ + ": expected a list of storage keys, found a " + std::string(kind_name(n.kind)));
  std::vector<std::string> out;
  for (uint32_t item : n.items) {
    const Node& s = graph_->nodes[item];
    if (s.kind != Kind::Str)
      throw Error(
          what_ + ": a storage key is a " + std::string(kind_name(s.kind)) + ", expected a string");
    out.push_back(s.s);
  }
  return out;
}

PickleResult Unpickler::state_dict() const {
  const Node& root = graph_->nodes[root_];
  if (root.kind != Kind::Dict)
    throw Error(what_ + ": holds a pickled " + std::string(kind_name(root.kind)) +
        ", not a state dict (a dict of "
        "tensors); save model.state_dict() with torch.save");
  PickleResult out;
  out.storages = graph_->storages;
  size_t budget = 1u << 20;
  flatten(*graph_, root_, "", 0, budget, what_, out);
  return out;
}

}  // namespace rip::io
