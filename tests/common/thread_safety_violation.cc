// Must NOT compile under clang with -Werror=thread-safety: it reads and
// writes a GUARDED_BY member without holding its mutex. tests/CMakeLists.txt
// compiles it (clang builds only) and expects clang's error, which shows that
// the annotations in common/mutex.h are live.
#include "common/mutex.h"

namespace pst {

class Unguarded {
 public:
  void Bump() { ++value_; }  // error: writing variable 'value_' requires holding mutex 'mu_'

 private:
  Mutex mu_;
  int value_ GUARDED_BY(mu_) = 0;
};

void UseUnguarded() { Unguarded().Bump(); }

}  // namespace pst
