/**
 * A child process for test/delivery-safety.test.ts: delivers a block into one job config, and stops just before
 * the temporary file is renamed over it, so that the test can signal it mid-write. It says
 * `paused <temporary file>` on standard output and waits for a line on standard input before going on.
 * The pause is this helper's stand-in for fs.renameSync, installed before the kit's modules are loaded (they
 * copy fs's functions when they are loaded): the kit itself has no test hook.
 * Usage: node -r ./tools/register.js test/interrupted-write.ts <job config> <block values as JSON>
 */
import type { PathLike } from "node:fs";

// The module object itself (an `import * as` would be a copy of it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require("node:fs") as { renameSync: (from: PathLike, to: PathLike) => void; readSync: typeof import("node:fs").readSync };
const realRename = fs.renameSync;
fs.renameSync = (from, to) => {
  // Old and new temporary names both end in .tmp; tools/register.js's cache files do not.
  if (String(from).endsWith(".tmp")) {
    process.stdout.write(`paused ${String(from)}\n`);
    fs.readSync(0, Buffer.alloc(1), 0, 1, null);
  }
  realRename(from, to);
};

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { deliverBlock } = require("../commands/credentials/run") as typeof import("../commands/credentials/run");
const [file, valuesJson] = process.argv.slice(2);
const values = JSON.parse(valuesJson!);
void deliverBlock({ hjson: "", values, roleArn: values.role_arn, lwaClientId: values.client_id }, [file!], {
  dryRun: false,
  print: (line) => process.stdout.write(`${line}\n`),
}).then((report) => {
  process.stdout.write(`done ${report.exitCode}\n`);
  process.exitCode = report.exitCode;
});
