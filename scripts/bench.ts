/**
 * npm run bench: the speed figures README quotes. Not a test: timings depend on the machine.
 *   1. a bare require of @pulumi/pulumi and @pulumi/aws (the floor any Pulumi program pays);
 *   2. npm run plan on Pulumi.dev.yaml (target: under 1.5x of 1);
 *   3. loading the program the way `pulumi up` does (ts-node), transpile-only as tsconfig's noCheck makes
 *      it, against type-checking (ts-node's default without noCheck);
 *   4. npm test, whole (target: under 20 s), unless --no-test.
 * Each figure is the median wall time of several runs, with the peak memory (max RSS) where /usr/bin/time exists.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TIME = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

interface Figure {
  label: string;
  medianMs: number;
  maxRssMb?: number;
}

function measure(label: string, command: string[], runs = RUNS): Figure {
  const times: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    const argv = TIME ? [TIME, "-f", "RSS_KB=%M", ...command] : command;
    const start = process.hrtime.bigint();
    const result = spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (result.status !== 0) throw new Error(`${label} failed (exit ${result.status}):\n${result.stderr.slice(-2000)}`);
    times.push(ms);
    const kb = /RSS_KB=(\d+)/.exec(result.stderr)?.[1];
    if (kb) rss.push(Number(kb) / 1024);
  }
  times.sort((a, b) => a - b);
  const figure: Figure = { label, medianMs: times[Math.floor(times.length / 2)]! };
  if (rss.length) figure.maxRssMb = Math.max(...rss);
  console.log(`${label.padEnd(58)} ${figure.medianMs.toFixed(0).padStart(6)} ms${figure.maxRssMb ? `  ${figure.maxRssMb.toFixed(0)} MB` : ""}`);
  return figure;
}

/**
 * What Pulumi's nodejs language host does before it runs index.ts (cmd/run/run.ts): register ts-node with
 * transpileOnly taken from tsconfig's noCheck, then require the program. `typeCheck` is the same without noCheck.
 */
function loadLikePulumiUp(typeCheck: boolean): string[] {
  const options = typeCheck ? "transpileOnly: false, compilerOptions: { noCheck: false }" : "transpileOnly: true, compilerOptions: {}";
  return [process.execPath, "-e", `require("ts-node").register({ ${options}, project: "tsconfig.json" }); require("./index.ts");`];
}

function main(): void {
  console.log(`node ${process.version}, ${require("os").cpus().length} cores, median of ${RUNS} runs\n`);
  const bare = measure("bare require of @pulumi/pulumi + @pulumi/aws", [
    process.execPath,
    "-e",
    'require("@pulumi/pulumi"); require("@pulumi/aws");',
  ]);
  const plan = measure("npm run plan (Pulumi.dev.yaml)", [process.execPath, "-r", "sucrase/register/ts", "scripts/plan.ts"]);
  console.log(`${"  plan / bare require".padEnd(58)} ${(plan.medianMs / bare.medianMs).toFixed(2).padStart(6)} x (target < 1.5)`);
  const fast = measure("program load as pulumi up does it: transpile only (noCheck)", loadLikePulumiUp(false));
  const slow = measure("program load, type-checking (ts-node default)", loadLikePulumiUp(true), Math.min(RUNS, 3));
  console.log(`${"  type-checking costs".padEnd(58)} ${(slow.medianMs - fast.medianMs).toFixed(0).padStart(6)} ms more per run`);
  if (!process.argv.includes("--no-test")) {
    measure("npm test (tsc --noEmit + mocha, whole suite)", ["npm", "test", "--silent"], 1);
  }
}

main();
