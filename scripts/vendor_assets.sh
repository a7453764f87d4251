#!/usr/bin/env bash
# Refresh the vendored front-end assets under lts/static/vendor/.
#
# The assets are committed so that running LTS needs neither npm nor network
# (SPEC section 7). This script is only for maintainers bumping a version: it
# fetches each pinned package with `npm pack` (the npm registry only, no CDN),
# copies the few built files the templates load plus the package's licence
# file, keeping their paths inside the package minus a leading "dist/" (e.g.
# dist/htmx.min.js -> vendor/htmx.org/htmx.min.js), and writes
# lts/static/vendor/MANIFEST.json describing what came from where.
#
# Usage: scripts/vendor_assets.sh            (from anywhere inside the repo)
# Needs: bash, npm and node (node parses npm's JSON and writes the manifest).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
vendor_dir="${repo_root}/lts/static/vendor"

# name|version|space-separated file globs relative to the package root.
# The licence file is found automatically. No source maps, no SCSS, no ESM.
# Bootstrap's CSS is not vendored: adminlte.min.css already contains it.
packages=(
  "admin-lte|4.10.0|dist/css/adminlte.min.css dist/js/adminlte.min.js"
  "bootstrap|5.3.9|dist/js/bootstrap.bundle.min.js"
  "bootstrap-icons|1.13.2|font/bootstrap-icons.min.css font/fonts/*.woff2 font/fonts/*.woff"
  "htmx.org|2.0.11|dist/htmx.min.js"
  "chart.js|4.6.1|dist/chart.umd.min.js"
  "chartjs-adapter-date-fns|3.0.0|dist/chartjs-adapter-date-fns.bundle.min.js"
  "lightweight-charts|5.2.1|dist/lightweight-charts.standalone.production.js"
  "swagger-ui-dist|5.35.0|swagger-ui-bundle.js swagger-ui.css"
)

for tool in npm node; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One JSON object per package, one per line; node joins them at the end.
entries="${work}/entries.jsonl"
: >"$entries"

for spec in "${packages[@]}"; do
  IFS='|' read -r name version globs <<<"$spec"
  echo "vendoring ${name}@${version}"

  pack_dir="${work}/pack/${name}"
  mkdir -p "$pack_dir"
  # --json gives the tarball name and its registry integrity hash.
  (cd "$pack_dir" && npm pack --json --silent "${name}@${version}" >pack.json)
  tarball="$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1]))[0].filename)' "${pack_dir}/pack.json")"
  integrity="$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1]))[0].integrity)' "${pack_dir}/pack.json")"
  tar -xzf "${pack_dir}/${tarball}" -C "$pack_dir"
  src="${pack_dir}/package"

  # The registry must have served exactly the version we pinned.
  got="$(node -e 'process.stdout.write(require(process.argv[1]).version)' "${src}/package.json")"
  if [[ "$got" != "$version" ]]; then
    echo "error: asked for ${name}@${version}, npm gave ${got}" >&2
    exit 1
  fi
  spdx="$(node -e 'process.stdout.write(String(require(process.argv[1]).license || "UNKNOWN"))' "${src}/package.json")"

  license_file=""
  for candidate in LICENSE LICENSE.md LICENSE.txt LICENCE license license.md; do
    if [[ -f "${src}/${candidate}" ]]; then
      license_file="$candidate"
      break
    fi
  done
  if [[ -z "$license_file" ]]; then
    echo "error: ${name}@${version} ships no licence file" >&2
    exit 1
  fi

  dest="${vendor_dir}/${name}"
  rm -rf "$dest"
  mkdir -p "$dest"

  files=()
  for pattern in $globs; do
    matched=0
    # The glob is expanded inside the unpacked package on purpose.
    for path in "${src}"/$pattern; do
      [[ -f "$path" ]] || continue
      rel="${path#"${src}/"}"
      # Drop a leading dist/: the repo's .gitignore ignores dist/ folders.
      rel="${rel#dist/}"
      mkdir -p "${dest}/$(dirname "$rel")"
      cp "$path" "${dest}/${rel}"
      files+=("vendor/${name}/${rel}")
      matched=1
    done
    if [[ "$matched" -eq 0 ]]; then
      echo "error: ${name}@${version} has no file matching ${pattern}" >&2
      exit 1
    fi
  done
  cp "${src}/${license_file}" "${dest}/${license_file}"
  # Apache-2.0 packages may ship a NOTICE that must travel with the code.
  for notice in NOTICE NOTICE.md NOTICE.txt; do
    if [[ -f "${src}/${notice}" ]]; then
      cp "${src}/${notice}" "${dest}/${notice}"
      files+=("vendor/${name}/${notice}")
    fi
  done

  node -e '
    const [name, version, spdx, licenseFile, integrity, ...files] = process.argv.slice(1);
    process.stdout.write(JSON.stringify({
      name, version, source: `npm:${name}@${version}`, integrity,
      license: spdx, license_file: `vendor/${name}/${licenseFile}`, files,
    }) + "\n");
  ' "$name" "$version" "$spdx" "$license_file" "$integrity" "${files[@]}" >>"$entries"
done

# File paths in the manifest are relative to lts/static, ready for
# url_for('static', filename=...).
node -e '
  const fs = require("fs");
  const lines = fs.readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
  const manifest = lines.map((line) => JSON.parse(line));
  fs.writeFileSync(process.argv[2], JSON.stringify(manifest, null, 2) + "\n");
' "$entries" "${vendor_dir}/MANIFEST.json"

echo "wrote ${vendor_dir}/MANIFEST.json"
du -sh "$vendor_dir"
