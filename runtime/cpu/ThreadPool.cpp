#include "ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace chitu::rt::cpu {
namespace {

thread_local bool insideParallelFor = false;

inline void pause() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

// Workers sleep until a job is posted, then claim indices from a shared counter; the
// caller claims them too, so a pool of one thread (no workers) is just a loop.
class ThreadPool {
public:
  explicit ThreadPool(int threads) : threads_(std::max(threads, 1)) {
    for (int i = 1; i < threads_; ++i)
      std::thread([this] { work(); }).detach();
  }

  int threads() const { return threads_; }

  void run(int64_t count, const std::function<void(int64_t)> &fn) {
    std::lock_guard<std::mutex> turn(callers_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = &fn;
      count_ = count;
      next_ = 0;
      done_ = 0;
      generation_.fetch_add(1);
    }
    posted_.notify_all();
    claim();
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return done_ == count_ && active_ == 0; });
    fn_ = nullptr;
  }

private:
  // Runs indices until none are left; counts the ones it ran.
  void claim() {
    insideParallelFor = true;
    int64_t ran = 0;
    for (int64_t i; (i = next_.fetch_add(1)) < count_; ++ran)
      (*fn_)(i);
    insideParallelFor = false;
    std::lock_guard<std::mutex> lock(mutex_);
    done_ += ran;
    if (done_ == count_)
      finished_.notify_all();
  }

  void work() {
    uint64_t seen = 0;
    for (;;) {
      // Spin a little before sleeping: a CPU-placed model posts one job per product, a few
      // hundred microseconds apart, and a sleeping thread takes long to wake.
      const auto spinUntil = std::chrono::steady_clock::now() + kSpin;
      while (generation_.load() == seen && std::chrono::steady_clock::now() < spinUntil)
        pause();
      {
        std::unique_lock<std::mutex> lock(mutex_);
        posted_.wait(lock, [&] { return generation_.load() != seen; });
        seen = generation_.load();
        if (!fn_)
          continue;
        ++active_;
      }
      claim();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--active_ == 0)
        finished_.notify_all();
    }
  }

  const int threads_;
  std::mutex callers_; // one parallelFor at a time
  std::mutex mutex_;
  std::condition_variable posted_, finished_;
  const std::function<void(int64_t)> *fn_ = nullptr;
  int64_t count_ = 0, done_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<uint64_t> generation_{0};
  static constexpr std::chrono::microseconds kSpin{100};
  int active_ = 0; // workers inside claim(): the job's state must outlive them
};

ThreadPool &pool() {
  // Never destroyed: detached workers may still be waiting when the process exits.
  static ThreadPool *p = [] {
    int n = int(std::thread::hardware_concurrency());
    if (const char *env = std::getenv("CHITU_CPU_THREADS"))
      n = std::atoi(env);
    return new ThreadPool(std::clamp(n, 1, 1024));
  }();
  return *p;
}

} // namespace

int numThreads() { return pool().threads(); }

void parallelFor(int64_t count, const std::function<void(int64_t)> &fn) {
  if (count <= 0)
    return;
  if (count == 1 || insideParallelFor || numThreads() == 1) {
    for (int64_t i = 0; i < count; ++i)
      fn(i);
    return;
  }
  pool().run(count, fn);
}

} // namespace chitu::rt::cpu
