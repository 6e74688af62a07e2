// MovieLens ratings as a click-through task: label = rating >= 4, features the
// user, the movie and the movie's genres (one-hot / multi-hot, value 1):
//   user u   -> id 1,000,000 + u
//   movie m  -> id 2,000,000 + m          (MovieLens movie ids are < 10^6)
//   genre g  -> id 3,000,000 + HashFeature(0, g) mod 1,000,000
// Input: the tab-separated export of dslabs' `movielens` data frame written by
// deploy/data/prepare_movielens.sh: a header line `userId movieId rating
// genres`, then one rating per line, genres joined by '|'.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "datagen/libsvm_split.h"

namespace pst {

// Reads the export. kNotFound if the file is missing, kInvalidArgument naming
// the file, line and fault for a malformed line (or a wrong header).
StatusOr<std::vector<LabelledSample>> ReadMovieLensRatings(const std::string& path);

}  // namespace pst
