// Host-side CUDA runtime wrapper, callable from plain C++ (binding.cc is not compiled by nvcc).
// Only built when MATHRL_WITH_CUDA is defined.
#pragma once
#include <cstddef>
#include <string>

namespace mathrl {
namespace cuda {

struct Info {
  bool available = false;  // a device is visible and usable
  int devices = 0;
  std::string name;        // device 0 name
  int cc_major = 0, cc_minor = 0;
  size_t total_memory = 0;
  std::string reason;      // why not available
  int runtime_version = 0, driver_version = 0;
};

// Probes once (cached); never throws, never crashes without a driver.
const Info& info();
// Throws mathrl::Error with the reason when no device is usable.
void require();

void* malloc(size_t bytes);   // stream-ordered allocation on the one stream
void free(void* p);           // stream-ordered free; safe from GC finalizers
void memcpy_h2d(void* dst, const void* src, size_t bytes);  // returns after the copy completed
void memcpy_d2h(void* dst, const void* src, size_t bytes);  // waits for the stream, then copies
void memcpy_d2d(void* dst, const void* src, size_t bytes);  // async on the stream
void memset(void* p, int value, size_t bytes);  // async on the stream
void synchronize();           // waits for the stream; reports asynchronous kernel errors

}  // namespace cuda
}  // namespace mathrl
