#!/usr/bin/env bash
# Prepares MovieLens ml-latest-small (100,004 ratings, 671 users, 9,066 movies;
# shipped by Debian's r-cran-dslabs) as a click-through task: label = rating
# >= 4; features user id, movie id and genres; a seeded 80/20 train/test split.
# Writes OUT/ratings.tsv (the export), OUT/train.svm and OUT/test.svm (libsvm).
# Usage: deploy/data/prepare_movielens.sh [OUT]   (default OUT: data/movielens)
# Installs r-cran-dslabs (and R) with apt-get if missing; needs build/ (run
# deploy/bootstrap.sh first).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-data/movielens}
datagen=build/bin/pstrain-datagen
[ -x "$datagen" ] || { echo "prepare_movielens: error: $datagen not found; run deploy/bootstrap.sh first" >&2; exit 1; }
if ! dpkg-query -W -f='${Status}' r-cran-dslabs 2>/dev/null | grep -q "install ok installed"; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "prepare_movielens: installing r-cran-dslabs (R and the dslabs data sets)"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends r-cran-dslabs
fi
mkdir -p "$out"
Rscript -e 'data("movielens", package = "dslabs"); m <- movielens
  write.table(data.frame(userId = m$userId, movieId = m$movieId, rating = m$rating,
                         genres = as.character(m$genres)),
              file = commandArgs(trailingOnly = TRUE)[1], sep = "\t", quote = FALSE,
              row.names = FALSE)' "$out/ratings.tsv"
"$datagen" movielens --input "$out/ratings.tsv" --out "$out" --seed 1 --test-fraction 0.2
