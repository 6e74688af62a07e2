#include "common/allocator_tuning.h"

#include <malloc.h>

namespace pst {

void KeepFreedMemoryForReuse() {
#ifdef M_TRIM_THRESHOLD
  // Allocations below the mmap threshold come from the heap and are reused;
  // 32 MiB is glibc's largest allowed value on 64-bit. Larger ones (tensors of
  // big models) are still mapped and unmapped on their own.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  // Trim the heap only when more than 1 GiB at its top is free.
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace pst
