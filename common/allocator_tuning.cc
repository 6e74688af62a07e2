#include "common/allocator_tuning.h"

#include <malloc.h>

namespace pst {

void KeepFreedMemoryForReuse() {
#ifdef M_TRIM_THRESHOLD
  // Allocations below the mmap threshold come from the heap and are reused,
  // so even whole-model frames of large models (tens of MiB, each of which
  // would otherwise be mapped, faulted in page by page and unmapped again)
  // stay mapped. Older glibc versions cap the threshold at 32 MiB.
  if (mallopt(M_MMAP_THRESHOLD, 1 << 30) == 0) mallopt(M_MMAP_THRESHOLD, 32 << 20);
  // Trim the heap only when more than 1 GiB at its top is free.
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace pst
