/**
 * npm run bench: the speed figures CONTRIBUTING.md quotes. Not a test: timings depend on the machine.
 *   1. a bare require of @pulumi/pulumi and the @pulumi/aws services the program uses (the floor it pays);
 *   2. npm run plan on Pulumi.dev.yaml (target: under 1.5x of 1), interleaved with 1 so that both see the
 *      same machine load; also its first run, before the transpile cache exists;
 *   3. loading the program the way `pulumi up` does (ts-node), transpile-only as tsconfig's noCheck makes
 *      it, against type-checking (what ts-node does without noCheck);
 *   4. npm run status over a generated fleet of 50 and 200 stacks held by the stand-in CLI (test/fake-pulumi.ts):
 *      reading a fleet is bounded by the CLI calls, two per stack, run side by side;
 *   5. npm test (type-check, lint, format check and the fast suite; target: under 60 s on 2 cores), with the
 *      checks' caches empty and then warm, and npm run test:e2e (the end-to-end suite), one run each, unless --no-test.
 * Figures are medians of BENCH_RUNS runs (default 7), with peak memory (max RSS) where /usr/bin/time exists.
 */
import { spawnSync } from "child_process";
import { errorLine, helpText, parseCommandLine, runCommand, usageErrorText } from "../lib/cli";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { printable } from "../lib/output";
import { FakePulumi } from "../test/fake-pulumi";

const ROOT = path.resolve(__dirname, "..");
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const TIME = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;
const TRANSPILE_CACHE = path.join(ROOT, "node_modules", ".cache", "sp-api-iam-ts");

export const USAGE = [
  "Usage: npm run bench -- [--no-test]",
  "  Measures the speed figures README quotes: a bare require of @pulumi/pulumi, npm run plan (cold and warm), the",
  "  program's load as pulumi up does it, npm run status over 50 and 200 stand-in stacks, npm test and npm run",
  "  test:e2e (minutes).",
  "  --no-test  leave out npm test and npm run test:e2e",
  "Environment: BENCH_RUNS, the runs each figure is the median of (default 7).",
].join("\n");

/** A step that did not succeed: the one line bench prints for it says which step and how it ended. */
export class StepFailed extends Error {}

interface Sample {
  ms: number;
  rssMb?: number;
}

export function sample(label: string, command: string[], env?: NodeJS.ProcessEnv): Sample {
  const argv = TIME ? [TIME, "-f", "RSS_KB=%M", ...command] : command;
  const start = process.hrtime.bigint();
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, env });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0 && !(label.startsWith("status") && result.status === 1)) {
    // One line: which step, how it ended, and its last line of error output (the step's own log says the rest).
    // /usr/bin/time's own lines (the RSS figure, "Command exited with non-zero status N") are not the step's.
    const own = /^(RSS_KB=\d+|Command (exited with non-zero status|terminated by signal) .*)$/;
    const last = result.stderr
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !own.test(l))
      .pop();
    const ended = result.status === null ? `was stopped (${result.signal ?? "no exit code"})` : `exited ${result.status}`;
    throw new StepFailed(`${label} ${ended}${last ? `: ${printable(last, 200)}` : ""}; run it alone to see why`);
  }
  const kb = /RSS_KB=(\d+)/.exec(result.stderr)?.[1];
  return { ms, rssMb: kb ? Number(kb) / 1024 : undefined };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function report(label: string, samples: Sample[]): number {
  const ms = median(samples.map((s) => s.ms));
  const rss = samples.map((s) => s.rssMb ?? 0);
  const mem = Math.max(...rss) > 0 ? `  ${Math.max(...rss).toFixed(0)} MB` : "";
  console.log(`${label.padEnd(62)} ${ms.toFixed(0).padStart(6)} ms${mem}`);
  return ms;
}

/**
 * What Pulumi's nodejs language host does before it runs index.ts (cmd/run/run.ts): register ts-node with
 * transpileOnly taken from tsconfig's noCheck, then require the program. `typeCheck` is the same without noCheck.
 */
function loadLikePulumiUp(typeCheck: boolean): string[] {
  const options = typeCheck ? "transpileOnly: false, compilerOptions: { noCheck: false }" : "transpileOnly: true, compilerOptions: {}";
  return [process.execPath, "-e", `require("ts-node").register({ ${options}, project: "tsconfig.json" }); require("./index.ts");`];
}

function measure(withTest: boolean): void {
  console.log(`node ${process.version}, ${os.cpus().length} cores, medians of ${RUNS} runs\n`);
  const bareCommand = [process.execPath, "-e", 'require("@pulumi/pulumi"); require("@pulumi/aws/iam"); require("@pulumi/aws/sqs");'];
  const planCommand = [process.execPath, "-r", "./tools/register.js", "commands/plan/cli.ts"];

  fs.rmSync(TRANSPILE_CACHE, { recursive: true, force: true });
  const cold = sample("plan, cold", planCommand);
  const bare: Sample[] = [];
  const plan: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    bare.push(sample("bare require", bareCommand));
    plan.push(sample("plan", planCommand));
  }
  const bareMs = report("bare require of @pulumi/pulumi + @pulumi/aws/{iam,sqs}", bare);
  const planMs = report("npm run plan (Pulumi.dev.yaml)", plan);
  console.log(`${"  plan / bare require".padEnd(62)} ${(planMs / bareMs).toFixed(2).padStart(6)} x (target < 1.5)`);
  report("npm run plan, first run (no transpile cache yet)", [cold]);

  const fast = report(
    "program load as pulumi up does it: transpile only (noCheck)",
    Array.from({ length: RUNS }, () => sample("load", loadLikePulumiUp(false))),
  );
  const slow = report(
    "program load, type-checking (ts-node without noCheck)",
    Array.from({ length: 3 }, () => sample("load", loadLikePulumiUp(true))),
  );
  console.log(`${"  type-checking costs".padEnd(62)} ${(slow - fast).toFixed(0).padStart(6)} ms more per pulumi up/preview`);
  for (const size of [50, 200]) {
    const cli = FakePulumi.create();
    try {
      for (let i = 0; i < size; i++) cli.addStack(`customer-${String(i).padStart(3, "0")}`, { config: { spApiRegion: ["na", "eu", "fe"][i % 3]! } });
      const status = [process.execPath, "-r", "./tools/register.js", "commands/status/cli.ts", "--json"];
      const ms = report(`npm run status --json, ${size} stacks (stand-in CLI)`, [sample(`status ${size}`, status, cli.env())]);
      console.log(`${"  per stack".padEnd(62)} ${(ms / size).toFixed(0).padStart(6)} ms`);
    } finally {
      cli.cleanup();
    }
  }
  if (withTest) {
    // First without the checks' caches (tools/test.sh keeps them in node_modules/.cache), as after npm ci; then again,
    // as before a commit that changed a few files.
    for (const check of ["tsc", "eslint", "prettier"]) fs.rmSync(path.join(ROOT, "node_modules", ".cache", check), { recursive: true, force: true });
    report("npm test, the checks' caches empty (after npm ci)", [sample("npm test", ["npm", "test", "--silent"])]);
    report("npm test, the checks' caches warm", [sample("npm test", ["npm", "test", "--silent"])]);
    report("npm run test:e2e (the end-to-end suite)", [sample("npm run test:e2e", ["npm", "run", "test:e2e", "--silent"])]);
  }
}

/** `measure` is the benchmark itself; a test gives one that fails at once. */
export function main(argv: readonly string[], run: (withTest: boolean) => void = measure): number {
  const parsed = parseCommandLine(argv, { "no-test": { type: "boolean" } });
  if (parsed.kind === "help") {
    process.stdout.write(helpText(USAGE));
    return 0;
  }
  if (parsed.kind === "error") {
    process.stderr.write(usageErrorText("bench", USAGE, parsed.message));
    return 2;
  }
  try {
    run(!parsed.values["no-test"]);
    return 0;
  } catch (error) {
    if (!(error instanceof StepFailed)) throw error;
    process.stderr.write(`${errorLine("bench", error.message)}\n`);
    return 1;
  }
}

if (require.main === module) runCommand("bench", () => main(process.argv.slice(2)));
