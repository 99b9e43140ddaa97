// Checked size arithmetic for the N-API bindings: every size a kernel derives from its
// arguments is computed here, so a product of hostile sizes is reported instead of wrapping.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

namespace moelab {

// The largest element count any binding accepts: JavaScript's safe integers.
constexpr int64_t kMaxElements = (int64_t{1} << 53) - 1;

// *out = a * b when both are in [0, kMaxElements] and so is the product.
inline bool CheckedMul(int64_t a, int64_t b, int64_t* out) {
  int64_t p = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &p) || p > kMaxElements) return false;
  *out = p;
  return true;
}

inline bool CheckedAdd(int64_t a, int64_t b, int64_t* out) {
  int64_t s = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &s) || s > kMaxElements) return false;
  *out = s;
  return true;
}

// The product of all dims; a zero anywhere makes it 0 whatever the others are.
inline bool CheckedProduct(std::initializer_list<int64_t> dims, int64_t* out) {
  for (int64_t d : dims)
    if (d == 0) {
      *out = 0;
      return true;
    }
  int64_t p = 1;
  for (int64_t d : dims)
    if (!CheckedMul(p, d, &p)) return false;
  *out = p;
  return true;
}

// "a x b x c", for messages about sizes too large to print as one number.
inline std::string JoinDims(std::initializer_list<int64_t> dims) {
  std::string s;
  for (int64_t d : dims) s += (s.empty() ? "" : " x ") + std::to_string(d);
  return s;
}

}  // namespace moelab
