// The CPU executor's worker threads: one pool per process, shared by every session, sized
// by $CHITU_CPU_THREADS (default: the hardware threads).
#pragma once

#include <cstdint>
#include <functional>

namespace chitu::rt::cpu {

// The threads parallelFor uses, the caller included.
int numThreads();

// Runs fn(i) for every i in [0, count) on the pool and the calling thread and returns when
// all have run. Calls from several threads take turns; a call from inside fn runs serially.
void parallelFor(int64_t count, const std::function<void(int64_t)> &fn);

} // namespace chitu::rt::cpu
