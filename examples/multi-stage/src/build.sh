#!/bin/sh
# "Compiles" the app: generates the launcher, a compressed data file and a
# checksum list into $1. Runs in the alpine build stage only.
set -eu
out=$1
greeting=$2
mkdir -p "$out"
sed "s/@GREETING@/$greeting/" hello.sh.in > "$out/hello.sh"
chmod 0755 "$out/hello.sh"
gzip -9 -n -c words.txt > "$out/words.gz"
cd "$out"
sha256sum hello.sh words.gz > SHA256SUMS
echo "built on alpine $(cat /etc/alpine-release)" > BUILDINFO
