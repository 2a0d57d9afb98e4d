// Bundles ui/src into src/dictamesh/api/static/ui/ (run by `make ui`): minified JS and CSS
// with content-hashed names, and manifest.json naming them with the sha256 of the sources
// they were built from, so a unit test notices a bundle older than its sources.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, rmSync, mkdirSync, writeFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = join(here, "..", "src", "dictamesh", "api", "static", "ui");

// The same walk and hash as tests/unit/api/test_browser_ui_bundle.py: every file of src/
// plus the build inputs, by sorted relative path, each as "path\0sha256(content)\n".
function sourceFiles() {
  const files = ["build.mjs", "package.json", "package-lock.json"];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(relative(here, path).split(sep).join("/"));
    }
  };
  walk(join(here, "src"));
  return files.sort();
}

function sourcesSha256() {
  const hash = createHash("sha256");
  for (const file of sourceFiles()) {
    const content = createHash("sha256").update(readFileSync(join(here, file))).digest("hex");
    hash.update(`${file}\0${content}\n`);
  }
  return hash.digest("hex");
}

// The licence of every npm package the bundle contains (all MIT today), in one file.
function licences(metafile) {
  const packages = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const match = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (match) packages.add(match[1]);
  }
  const parts = ["Third-party code in the DictaMesh browser UI bundle (assets/):\n"];
  for (const name of [...packages].sort()) {
    const dir = join(here, "node_modules", name);
    const { version, license } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
    const text = file ? readFileSync(join(dir, file), "utf8").trim() : `${license}`;
    parts.push(`\n==== ${name} ${version} (${license}) ====\n\n${text}\n`);
  }
  return parts.join("");
}

rmSync(join(out, "assets"), { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });
const result = await esbuild.build({
  entryPoints: { app: join(here, "src", "main.js") },
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome109", "firefox115", "safari16"],
  entryNames: "[name]-[hash]",
  outdir: join(out, "assets"),
  metafile: true,
  legalComments: "none", // the libraries' licences go to LICENSE beside the bundle instead
  logLevel: "warning",
});
const entry = {};
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  const name = file.split("/").pop();
  if (meta.entryPoint && name.endsWith(".js")) entry.js = name;
  if (name.endsWith(".css")) entry.css = name;
}
writeFileSync(join(out, "LICENSE"), licences(result.metafile));
const manifest = { sources_sha256: sourcesSha256(), entry };
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`built ${entry.js} ${entry.css} into ${relative(process.cwd(), out)}`);
