// Constants of the .cbin format shared by the writer (chitu-compile) and the loader.
#pragma once

#include <cstddef>
#include <cstdint>

namespace chitu {

// The schema version chitu-compile writes and the runtime reads.
constexpr uint32_t kSchemaVersion = 1;
// Alignment of the weight segment and of every embedded weight in it.
constexpr size_t kSegmentAlignment = 64;
// Weight.file of a weight compiled without weight files (found by name at load time).
constexpr uint32_t kUnresolvedWeightFile = 0xFFFFFFFFu;

} // namespace chitu
