// A small persistent thread pool for the CPU backend (no OpenMP runtime needed at load time).
#pragma once
#include <cstdint>
#include <functional>

namespace mathrl {
namespace cpu {

// Number of worker threads used by parallel_for (MATHRL_NUM_THREADS, else hardware concurrency).
int num_threads();
void set_num_threads(int n);

// Calls fn(begin, end, thread_index) over [0, n) split into contiguous chunks, one per thread,
// on the pool; returns when all are done. Runs inline when n is small or the pool has one thread.
// Exceptions thrown by fn are rethrown on the calling thread (the first one wins).
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                  int64_t min_chunk = 1);

}  // namespace cpu
}  // namespace mathrl
