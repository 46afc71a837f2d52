// Runs the project's TypeScript for the command-line scripts (plan, verify, bench) without ts-node's
// start-up cost: sucrase strips the types (keeping line numbers, so stack traces stay right), and the
// result is cached by content, so a warm run does not even load the transpiler. Type-checking is
// `npm test`'s job. Usage: node -r ./tools/register.js <file.ts>
"use strict";
require("./check-node.js"); // first: an unsupported Node gets one line and exit 2, before anything else is loaded
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const CACHE_DIR = path.join(__dirname, "..", "node_modules", ".cache", "sp-api-iam-ts");
let SUCRASE_VERSION;
try {
  SUCRASE_VERSION = require("sucrase/package.json").version;
} catch (error) {
  if (error.code !== "MODULE_NOT_FOUND") throw error;
  // Before `npm ci` (a fresh clone): one line saying what to do, not Node's stack trace.
  process.stderr.write(`sp-api-iam: its dependencies are not installed: run npm ci first (in ${path.join(__dirname, "..")}).\n`);
  process.exit(1);
}
let transform;

require.extensions[".ts"] = function compileTypeScript(module, filename) {
  const source = fs.readFileSync(filename, "utf8");
  const key = crypto.createHash("sha256").update(`${SUCRASE_VERSION}\0${filename}\0${source}`).digest("hex");
  const cached = path.join(CACHE_DIR, `${key}.js`);
  let code;
  try {
    code = fs.readFileSync(cached, "utf8");
  } catch {
    transform ??= require("sucrase").transform;
    code = transform(source, { transforms: ["typescript", "imports"], filePath: filename }).code;
    try {
      fs.mkdirSync(CACHE_DIR, { recursive: true });
      fs.writeFileSync(`${cached}.${process.pid}`, code);
      fs.renameSync(`${cached}.${process.pid}`, cached); // atomic: a parallel run never reads half a file
    } catch {
      // A read-only tree only loses the cache.
    }
  }
  module._compile(code, filename);
};
