// Process-wide tuning of glibc's allocator for roles that move large tensors.
#pragma once

namespace pst {

// Keeps freed memory in the process for reuse instead of handing it back to
// the kernel. Every training step allocates and frees buffers of hundreds of
// KiB (received ZeroMQ frames, pull replies); with glibc's defaults the top of
// the heap is trimmed after such a free and the next allocation faults every
// page in again, which costs more than the copy itself on a virtual machine.
// Memory held then stays near the process's peak use. Call once, early in
// main(), before other threads start. Harmless (a no-op) on other allocators.
void KeepFreedMemoryForReuse();

}  // namespace pst
