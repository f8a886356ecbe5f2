#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mathrl {
namespace cpu {
namespace {

// Workers and the caller spin this many pause instructions (roughly 50-100 us) before sleeping on a
// condition variable: ops follow each other within microseconds in a training step, and a worker
// woken from sleep by the OS can land on the caller's core, halving a GEMM's speed.
constexpr int kSpin = 2000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    stop();
    n = std::max(1, n);
    stopping_ = false;
    // New workers start from the current generation: they must not run the last (finished) task.
    uint64_t g = generation_.load();
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, g] { loop(i, g); });
  }

  // Runs task(t) for t in [0, size()) with t == 0 on the caller.
  void run(const std::function<void(int)>& task) {
    if (workers_.empty()) {
      task(0);
      return;
    }
    std::unique_lock<std::mutex> call_lock(call_mu_);  // one parallel region at a time
    {
      std::lock_guard<std::mutex> lk(mu_);
      task_ = &task;
      pending_ = static_cast<int>(workers_.size());
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    try {
      task(0);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
    for (int i = 0; i < kSpin && pending_.load(std::memory_order_acquire) != 0; ++i) cpu_relax();
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return pending_.load() == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void loop(int index, uint64_t seen) {
    for (;;) {
      for (int i = 0; i < kSpin && generation_.load(std::memory_order_acquire) == seen && !stopping_.load(); ++i)
        cpu_relax();
      const std::function<void(int)>* task;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        task = task_;
      }
      try {
        (*task)(index);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!error_) error_ = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (pending_.fetch_sub(1) == 1) done_cv_.notify_one();
      }
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mu_, call_mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* task_ = nullptr;
  // Written under mu_; atomic so the spin loops may read them without it.
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  std::exception_ptr error_;
};

int default_threads() {
  if (const char* env = std::getenv("MATHRL_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

Pool& pool() {
  static Pool p(default_threads());
  return p;
}

thread_local bool in_parallel_region = false;

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                  int64_t min_chunk) {
  if (n <= 0) return;
  int threads = num_threads();
  int64_t chunks = std::min<int64_t>(threads, (n + std::max<int64_t>(min_chunk, 1) - 1) /
                                                  std::max<int64_t>(min_chunk, 1));
  // Nested calls (from inside a worker) and tiny ranges run inline.
  if (chunks <= 1 || in_parallel_region) {
    fn(0, n, 0);
    return;
  }
  pool().run([&](int t) {
    if (t >= chunks) return;
    int64_t begin = n * t / chunks, end = n * (t + 1) / chunks;
    in_parallel_region = true;
    try {
      if (begin < end) fn(begin, end, t);
    } catch (...) {
      in_parallel_region = false;
      throw;
    }
    in_parallel_region = false;
  });
}

}  // namespace cpu
}  // namespace mathrl
