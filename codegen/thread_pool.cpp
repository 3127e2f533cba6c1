#include "codegen/thread_pool.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace dlc::codegen {

namespace {

using Clock = std::chrono::steady_clock;

/// How long an idle worker spins before it sleeps: kernels of a step follow each other within
/// microseconds, and waking a sleeping thread costs tens of them.
constexpr auto kSpinTime = std::chrono::microseconds(50);

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int index = 1; index < threads; ++index) workers_.emplace_back([this] { work(); });
  }

  ~ThreadPool() {
    stop_.store(true);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (std::thread& worker : workers_) worker.join();
  }

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  /// One kernel: parts are handed out one by one to the caller and the workers.
  void run(DlcPartFunction body, void* context, int64_t parts) {
    body_.store(body, std::memory_order_relaxed);
    context_.store(context, std::memory_order_relaxed);
    parts_.store(parts, std::memory_order_relaxed);
    pending_.store(parts, std::memory_order_relaxed);
    uint64_t generation = generation_.load(std::memory_order_relaxed) + 1;
    // The ticket holds the generation with the next part, so that a worker late from the last
    // kernel cannot take a part of this one.
    ticket_.store(generation << 32, std::memory_order_relaxed);
    generation_.store(generation, std::memory_order_release);
    generation_.notify_all();

    runParts(generation);
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 4096) {
        _mm_pause();
      } else {
        sched_yield();
      }
    }
  }

 private:
  /// Takes and runs parts of `generation` until none is left.
  void runParts(uint64_t generation) {
    DlcPartFunction body = body_.load(std::memory_order_relaxed);
    void* context = context_.load(std::memory_order_relaxed);
    int64_t parts = parts_.load(std::memory_order_relaxed);
    uint64_t ticket = ticket_.load(std::memory_order_acquire);
    while ((ticket >> 32) == generation && static_cast<int64_t>(ticket & 0xffffffff) < parts) {
      if (!ticket_.compare_exchange_weak(ticket, ticket + 1, std::memory_order_acq_rel)) continue;
      body(context, static_cast<int64_t>(ticket & 0xffffffff), parts);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
      ticket = ticket_.load(std::memory_order_acquire);
    }
  }

  void work() {
    uint64_t seen = 0;
    while (true) {
      uint64_t generation = generation_.load(std::memory_order_acquire);
      auto spinStart = Clock::now();
      for (int spins = 0; generation == seen; ++spins) {
        _mm_pause();
        if (spins % 256 == 255 && Clock::now() - spinStart > kSpinTime) {
          generation_.wait(seen, std::memory_order_acquire);
        }
        generation = generation_.load(std::memory_order_acquire);
      }
      seen = generation;
      if (stop_.load()) return;
      runParts(generation);
    }
  }

  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int64_t> pending_{0};
  std::atomic<DlcPartFunction> body_{nullptr};
  std::atomic<void*> context_{nullptr};
  std::atomic<int64_t> parts_{0};
  std::atomic<bool> stop_{false};
};

std::mutex poolMutex;
std::unique_ptr<ThreadPool> pool;
/// Set while a kernel runs on the pool: a kernel called meanwhile from another thread (two
/// sessions run at once) runs inline instead.
std::atomic<bool> poolBusy{false};

}  // namespace

void setPoolThreads(int threads) {
  std::lock_guard lock(poolMutex);
  threads = std::max(1, threads);
  if (poolThreads() == threads) return;
  pool.reset();
  if (threads > 1) pool = std::make_unique<ThreadPool>(threads);
}

int poolThreads() { return pool ? pool->threads() : 1; }

}  // namespace dlc::codegen

extern "C" void dlc_parallel_for(DlcPartFunction body, void* context, int64_t units) {
  using dlc::codegen::pool, dlc::codegen::poolBusy;
  int64_t parts = pool ? std::min<int64_t>(units, pool->threads()) : 1;
  if (parts <= 1 || poolBusy.exchange(true, std::memory_order_acquire)) {
    body(context, 0, 1);
    return;
  }
  pool->run(body, context, parts);
  poolBusy.store(false, std::memory_order_release);
}
