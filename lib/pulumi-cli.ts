/**
 * Which Pulumi CLI the commands run, and whether it is new enough: the one rule for `npm run up` (tools/up.sh runs
 * this file) and for every command that drives stacks (lib/pulumi.ts). Kept apart from the Automation API, which
 * takes a while to load, so that up.sh pays only for this.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { runCommand } from "./cli";
import { printable } from "./output";

export const REPO_ROOT = path.resolve(__dirname, "..");

/** Key rotation relies on the replacementTrigger resource option, which the engine honours from 3.208 on. */
export const MIN_PULUMI_VERSION = "3.208.0";

/** "state-conflict": the program refused the commands' compare-and-set, since another run deployed first (src/state.ts). */
export type PulumiErrorReason = "no-cli" | "no-stack-selected" | "stack-not-found" | "busy" | "state-conflict" | "failed";

export class PulumiError extends Error {
  constructor(
    readonly reason: PulumiErrorReason,
    message: string,
  ) {
    super(message);
    this.name = "PulumiError";
  }
}

const PACKAGE_CLI = path.join(REPO_ROOT, "node_modules", ".bin", "pulumi");

function isPackageCli(cli: string): boolean {
  return cli === PACKAGE_CLI;
}

function describeCli(cli: string): string {
  return isPackageCli(cli) ? "the Pulumi CLI of the pulumi npm package" : `the Pulumi CLI on your PATH (${cli})`;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The Pulumi CLI to run: the user's own, found on PATH with every node_modules/.bin entry left out (npm run puts
 * the project's first, where the `pulumi` npm package's downloader sits), else that package's.
 */
export function findPulumiCli(env: NodeJS.ProcessEnv = process.env, repoRoot: string = REPO_ROOT): string {
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir || /(^|[\\/])node_modules[\\/]\.bin[\\/]?$/.test(dir)) continue;
    const candidate = path.join(dir, "pulumi");
    if (isExecutable(candidate)) return path.resolve(candidate);
  }
  return path.join(repoRoot, "node_modules", ".bin", "pulumi");
}

function compareVersions(a: string, b: string): number {
  const parts = (v: string) => v.split(/[.-]/, 3).map((n) => Number.parseInt(n, 10) || 0);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

const checkedClis = new Map<string, string>();

/** Runs `pulumi version` once per CLI and process; refuses a CLI too old for key rotation. */
export function checkedPulumiVersion(cli: string, env: NodeJS.ProcessEnv): string {
  const known = checkedClis.get(cli);
  if (known) return known;
  const result = spawnSync(cli, ["version"], { env: { ...env, PULUMI_SKIP_UPDATE_CHECK: "true" }, encoding: "utf8", timeout: 120_000 });
  // The pulumi npm package downloads the CLI on first use; when that fails (offline, a proxy in the way) its one
  // line, "pulumi: <reason>", is the real cause: npm ci is already done and would not help.
  const downloadFailure = isPackageCli(cli) && !result.error && result.status !== 0 ? /^pulumi: (.+)$/m.exec(result.stderr ?? "") : null;
  if (downloadFailure) {
    throw new PulumiError(
      "no-cli",
      `the pulumi npm package could not download the Pulumi CLI (${printable(downloadFailure[1]!, 200)}); it fetches it from get.pulumi.com on first use. ` +
        "Fix: check the network connection and any proxy (HTTPS_PROXY), then run again; or install the Pulumi CLI yourself (pulumi.com/docs/install).",
    );
  }
  if (result.error || result.status !== 0) {
    throw new PulumiError(
      "no-cli",
      `could not run the Pulumi CLI at ${cli} (${result.error ? (result.error as NodeJS.ErrnoException).code : `exit ${result.status}`}). ` +
        "Fix: install it (pulumi.com/docs/install) or run npm ci so the pulumi npm package provides it.",
    );
  }
  const version = result.stdout.trim().replace(/^v/, "");
  if (!/^\d+\.\d+\.\d+/.test(version) || compareVersions(version, MIN_PULUMI_VERSION) < 0) {
    throw new PulumiError(
      "no-cli",
      `${describeCli(cli)} is ${version || "of an unknown version"}; this kit needs ${MIN_PULUMI_VERSION} or later (pulumi.com/docs/install): ` +
        "older engines ignore the replacementTrigger key rotation rests on." +
        (isPackageCli(cli) ? "" : " Upgrade it, or remove it from PATH to use the one the pulumi npm package provides."),
    );
  }
  checkedClis.set(cli, version);
  return version;
}

/** The checked CLI for this environment: its path, or a PulumiError saying why not. */
export function checkedPulumiCli(env: NodeJS.ProcessEnv = process.env): string {
  const cli = findPulumiCli(env);
  checkedPulumiVersion(cli, env);
  return cli;
}

// tools/up.sh: prints the CLI to run, or why none may run (exit 1).
if (require.main === module) {
  runCommand("up", () => {
    try {
      process.stdout.write(checkedPulumiCli() + "\n");
      return 0;
    } catch (error) {
      if (!(error instanceof PulumiError)) throw error;
      process.stderr.write(error.message + "\n");
      return 1;
    }
  });
}
