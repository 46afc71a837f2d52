/**
 * npm run doctor: what would stop a command, found before a command fails on it. One line per check, each with what
 * to do when it fails: Node, the Pulumi CLI (which one, its version; the npm package's downloads on first use), the
 * backend (`pulumi whoami`), each stack's passphrase or secrets provider and its aws:profile, the lock directory,
 * the proxies in the environment. Reads; changes nothing (the lock directory is created if missing, as a command would).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { lockDir } from "../../lib/lock";
import { awsProfileProblem, showUrl } from "../../lib/net";
import { printable } from "../../lib/output";
import { listStacks, openStack } from "../../lib/pulumi";
import { checkedPulumiVersion, findPulumiCli, PulumiError, REPO_ROOT } from "../../lib/pulumi-cli";

export type CheckStatus = "ok" | "fail" | "info";
export interface Check {
  status: CheckStatus;
  what: string;
  detail: string;
}

const MARK: Record<CheckStatus, string> = { ok: "✓", fail: "✗", info: "-" };

export function formatCheck(check: Check): string {
  return `${MARK[check.status]} ${check.what}: ${check.detail}`;
}

function nodeCheck(): Check {
  const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
  const ok = major > 22 || (major === 22 && minor >= 12);
  return ok
    ? { status: "ok", what: "Node", detail: `${process.versions.node} (the kit needs 22.12 or later)` }
    : { status: "fail", what: "Node", detail: `${process.versions.node}; the kit needs 22.12 or later: install Node 24 LTS (nodejs.org, or nvm install 24)` };
}

function cliCheck(env: NodeJS.ProcessEnv): { check: Check; cli?: string } {
  const cli = findPulumiCli(env);
  const whose =
    cli === path.join(REPO_ROOT, "node_modules", ".bin", "pulumi")
      ? "the pulumi npm package's (downloaded from get.pulumi.com on first use)"
      : `yours on PATH (${cli})`;
  try {
    const version = checkedPulumiVersion(cli, env);
    return { check: { status: "ok", what: "Pulumi CLI", detail: `${version}, ${whose}` }, cli };
  } catch (error) {
    if (!(error instanceof PulumiError)) throw error;
    return { check: { status: "fail", what: "Pulumi CLI", detail: error.message } };
  }
}

function backendCheck(cli: string, env: NodeJS.ProcessEnv): Check {
  const result = spawnSync(cli, ["whoami", "-v"], { env: { ...env, PULUMI_SKIP_UPDATE_CHECK: "true" }, encoding: "utf8", timeout: 60_000 });
  if (result.error || result.status !== 0) {
    const why = printable((result.stderr || "").trim().split("\n").pop() ?? "", 200);
    return {
      status: "fail",
      what: "backend",
      detail: `pulumi whoami failed${why ? ` (${why})` : ""}: log in, e.g. npm run pulumi -- login --local (state under ~/.pulumi), or set PULUMI_BACKEND_URL`,
    };
  }
  const user = /^User:\s*(.+)$/m.exec(result.stdout)?.[1] ?? result.stdout.trim().split("\n")[0] ?? "?";
  const url = /^Backend URL:\s*(.+)$/m.exec(result.stdout)?.[1] ?? env.PULUMI_BACKEND_URL ?? "the CLI's login";
  return { status: "ok", what: "backend", detail: `logged in as ${printable(user, 80)} (${printable(url, 200)})` };
}

/** What decrypts a stack's secrets: its Pulumi.<stack>.yaml's secretsprovider, else a passphrase from the environment. */
export function secretsCheck(stack: string, workDir: string, env: NodeJS.ProcessEnv): Check {
  const file = path.join(workDir, `Pulumi.${stack.split("/").pop()}.yaml`);
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    // No stack file: the passphrase provider is Pulumi's default.
  }
  const provider = /^secretsprovider:\s*(\S+)/m.exec(text)?.[1];
  const what = `stack ${stack}: secrets`;
  if (provider && !provider.startsWith("passphrase")) return { status: "ok", what, detail: `secrets provider ${printable(provider, 120)}` };
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined || env.PULUMI_CONFIG_PASSPHRASE_FILE) {
    return {
      status: "ok",
      what,
      detail: `passphrase from ${env.PULUMI_CONFIG_PASSPHRASE !== undefined ? "PULUMI_CONFIG_PASSPHRASE" : "PULUMI_CONFIG_PASSPHRASE_FILE"}`,
    };
  }
  return {
    status: "fail",
    what,
    detail:
      "it needs a passphrase and none is set: export PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE), or give the stack a cloud secrets provider (docs/fleet.md)",
  };
}

export function profileCheck(stack: string, profile: string | undefined, env: NodeJS.ProcessEnv): Check {
  const what = `stack ${stack}: AWS credentials`;
  if (!profile) {
    const from = env.AWS_PROFILE
      ? `AWS_PROFILE ${env.AWS_PROFILE}`
      : env.AWS_ACCESS_KEY_ID
        ? "AWS_ACCESS_KEY_ID in the environment"
        : "the AWS SDK's default chain";
    return { status: "info", what, detail: `no aws:profile: ${from}` };
  }
  const problem = awsProfileProblem(profile, env);
  return problem ? { status: "fail", what, detail: problem } : { status: "ok", what, detail: `aws:profile ${profile} is in the AWS config` };
}

function lockCheck(env: NodeJS.ProcessEnv): Check {
  const dir = lockDir(env);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    return { status: "ok", what: "lock directory", detail: `${dir} is writable` };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    return {
      status: "fail",
      what: "lock directory",
      detail: `${dir} is not writable (${code}): set SP_API_IAM_LOCK_DIR to a directory every user of the kit may write`,
    };
  }
}

export function proxyCheck(env: NodeJS.ProcessEnv): Check {
  const seen: string[] = [];
  for (const name of ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"]) {
    const value = env[name] ?? env[name.toLowerCase()];
    if (!value) continue;
    let shown = value;
    if (name !== "NO_PROXY") {
      try {
        shown = showUrl(new URL(value));
      } catch {
        shown = "(not a URL)";
      }
    }
    seen.push(`${name}=${printable(shown, 120)}`);
  }
  return { status: "info", what: "proxies", detail: seen.length > 0 ? `${seen.join(", ")} (docs/proxies.md)` : "none set (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)" };
}

/** Every check, printed as it completes; the exit code: 1 when one failed. */
export async function runDoctor(env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  const checks: Check[] = [];
  const say = (check: Check) => {
    checks.push(check);
    print(formatCheck(check));
  };
  say(nodeCheck());
  const { check, cli } = cliCheck(env);
  say(check);
  if (cli) {
    const backend = backendCheck(cli, env);
    say(backend);
    if (backend.status === "ok") {
      const workDir = env.SP_API_IAM_PROJECT_DIR || REPO_ROOT;
      try {
        const stacks = await listStacks({ env });
        if (stacks.length === 0) say({ status: "info", what: "stacks", detail: "none yet in this backend: npm run up -- <stack> creates one" });
        for (const s of stacks) {
          const secrets = secretsCheck(s.name, workDir, env);
          say(secrets);
          try {
            const view = await (await openStack(s.name, { env })).readConfig({ secrets: false });
            say(profileCheck(s.name, view.provider.profile, env));
          } catch (error) {
            if (!(error instanceof PulumiError)) throw error;
            say({ status: "fail", what: `stack ${s.name}`, detail: `its config cannot be read: ${error.message}` });
          }
        }
      } catch (error) {
        if (!(error instanceof PulumiError)) throw error;
        say({ status: "fail", what: "stacks", detail: `cannot be listed: ${error.message}` });
      }
    }
  }
  say(lockCheck(env));
  say(proxyCheck(env));
  const failed = checks.filter((c) => c.status === "fail").length;
  print(
    failed === 0
      ? "OK: nothing here would stop a command."
      : `${failed} problem${failed === 1 ? "" : "s"}: a command would stop on ${failed === 1 ? "it" : "them"} (fixes above).`,
  );
  return failed === 0 ? 0 : 1;
}
