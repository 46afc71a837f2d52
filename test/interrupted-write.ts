/**
 * A child process for test/delivery-safety.test.ts: delivers a block into one job config, and stops in the middle
 * of writing it, so that the test can act then (signal it, change the file under it). It says
 * `paused <temporary file>` on standard output and waits for a line on standard input before going on.
 * Where it stops: "rename" (default), just before the complete temporary file is renamed over the job config;
 * "fsync", once the temporary file is written, before the last check that the job config is unchanged.
 * The pause is this helper's stand-in for fs.renameSync or fs.fsyncSync, installed before the kit's modules are
 * loaded (they copy fs's functions when they are loaded): the kit itself has no test hook.
 * Usage: node -r ./tools/register.js test/interrupted-write.ts <job config> <block values as JSON> [rename|fsync]
 */
import * as path from "node:path";

// The module object itself (an `import * as` would be a copy of it).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fs = require("node:fs") as typeof import("node:fs") & { renameSync: typeof import("node:fs").renameSync; fsyncSync: typeof import("node:fs").fsyncSync };
const [file, valuesJson, pauseAt = "rename"] = process.argv.slice(2);

function pause(temp: string): void {
  process.stdout.write(`paused ${temp}\n`);
  fs.readSync(0, Buffer.alloc(1), 0, 1, null);
}

// Old and new temporary names both end in .tmp; tools/register.js's cache files do not.
const temporaryFiles = () =>
  fs
    .readdirSync(path.dirname(file!))
    .filter((name) => name.endsWith(".tmp"))
    .map((name) => path.join(path.dirname(file!), name));

const realRename = fs.renameSync;
const realFsync = fs.fsyncSync;
Object.assign(fs, {
  renameSync: (from: string, to: string) => {
    if (pauseAt === "rename" && from.endsWith(".tmp")) pause(from);
    realRename(from, to);
  },
  fsyncSync: (fd: number) => {
    realFsync(fd);
    const [temp] = temporaryFiles();
    if (pauseAt === "fsync" && temp) pause(temp);
  },
});

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { deliverBlock } = require("../commands/credentials/run") as typeof import("../commands/credentials/run");
const values = JSON.parse(valuesJson!);
void deliverBlock({ hjson: "", values, roleArn: values.role_arn, lwaClientId: values.client_id }, [file!], {
  dryRun: false,
  print: (line) => process.stdout.write(`${line}\n`),
}).then((report) => {
  process.stdout.write(`done ${report.exitCode}\n`);
  process.exitCode = report.exitCode;
});
