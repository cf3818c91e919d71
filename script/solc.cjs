// solc-js behind a native-solc command line; see script/solc.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

const args = process.argv.slice(2);
if (args[0] === "--version") {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}

const outFile = args[1];
// Roots that imports may be read from: the working directory plus any --base-path / --include-path.
const roots = [process.cwd()];
for (let i = 2; i < args.length; i++) {
  if ((args[i] === "--base-path" || args[i] === "--include-path") && args[i + 1]) roots.push(args[++i]);
}

function findImports(p) {
  for (const root of roots) {
    const full = path.isAbsolute(p) ? p : path.join(root, p);
    if (fs.existsSync(full)) return { contents: fs.readFileSync(full, "utf8") };
  }
  return { error: `file not found: ${p}` };
}

const input = fs.readFileSync(0, "utf8");
const output = solc.compile(input, { import: findImports });
fs.writeFileSync(outFile, output);
