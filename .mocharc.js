// Mocha runs two test files at a time. The slowest start first: one started last would leave the run waiting on it alone.
const fs = require("fs");

const slowestFirst = ["rotate-lwa", "rotate-key", "maintain-fleet", "verify", "credentials-delivery"].map((name) => `test/${name}.test.ts`);
const rest = fs
  .readdirSync("test")
  .filter((file) => file.endsWith(".test.ts"))
  .map((file) => `test/${file}`)
  .filter((file) => !slowestFirst.includes(file))
  .sort();

// MOCHA_SPEC (space-separated files) runs just those, e.g. tools/test-at-hours.sh.
const spec = process.env.MOCHA_SPEC ? process.env.MOCHA_SPEC.split(" ") : [...slowestFirst, ...rest];

module.exports = { require: ["./tools/register.js"], spec, timeout: 20000, reporter: "spec", parallel: true, jobs: 2 };
