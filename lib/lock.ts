/**
 * One run at a time per stack and per LWA app, across processes on this machine: a lock per name, held by
 * proper-lockfile (a directory created atomically, its mtime refreshed while the holder lives). A holder killed
 * with SIGKILL stops refreshing it, so the lock goes stale and the next run breaks it, safely (the library's own
 * rule); a holder that exits any other way (SIGINT, SIGTERM, an error) removes it.
 *
 * Beside each lock, a small file says who holds it (pid, command, since when), for the message a waiting run
 * prints. Locks live in ~/.sp-api-iam/locks (SP_API_IAM_LOCK_DIR overrides it), never in the project's tree.
 *
 * These locks are per machine. Runs on several machines sharing one backend (S3) are kept from asking Amazon twice
 * by the durable rotation record in the stack's config (lwaRotationRequestedAt), and from updating a stack at once
 * by the backend's own update lock.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as lockfile from "proper-lockfile";

/** A lock not refreshed for this long belongs to a process that is gone (the holder refreshes it every 5 s). */
export const STALE_LOCK_MS = 15_000;
export const DEFAULT_LOCK_WAIT_MS = 60_000;

export interface Holder {
  pid: number;
  command: string;
  since: string;
  host: string;
}

export class LockBusy extends Error {
  constructor(
    readonly what: string,
    readonly holder: Holder | undefined,
    waitedMs: number,
    staleAfterMs: number,
  ) {
    const who = holder ? `process ${holder.pid} (${holder.command}) on ${holder.host} since ${holder.since}` : "another process";
    super(
      `${what} is in use by ${who}; waited ${Math.round(waitedMs / 1000)} s. ` +
        "Fix: let that run finish, then run again (a killed run's lock is broken by the next run after " +
        `${Math.round(staleAfterMs / 1000)} s).`,
    );
    this.name = "LockBusy";
  }
}

export function lockDir(env: NodeJS.ProcessEnv): string {
  return env.SP_API_IAM_LOCK_DIR?.trim() || path.join(os.homedir(), ".sp-api-iam", "locks");
}

/** SP_API_IAM_LOCK_STALE_MS: tests shorten it (proper-lockfile's floor is 2 s); every process sharing the locks must agree. */
function staleMs(env: NodeJS.ProcessEnv): number {
  const value = Number(env.SP_API_IAM_LOCK_STALE_MS);
  return Number.isFinite(value) && value >= 2000 ? value : STALE_LOCK_MS;
}

function lockWaitMs(env: NodeJS.ProcessEnv): number {
  const value = Number(env.SP_API_IAM_LOCK_WAIT_MS);
  return Number.isFinite(value) && value >= 0 && env.SP_API_IAM_LOCK_WAIT_MS?.trim() ? value : DEFAULT_LOCK_WAIT_MS;
}

/** A name as a file name that cannot leave the directory: "stack-org%2Fproj%2Fdev". */
const fileName = (name: string) => encodeURIComponent(name).replace(/^\./, "%2E");

function readHolder(file: string): Holder | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<Holder>;
    return typeof parsed.pid === "number" && typeof parsed.since === "string"
      ? { pid: parsed.pid, command: String(parsed.command ?? "?"), since: parsed.since, host: String(parsed.host ?? "?") }
      : undefined;
  } catch {
    return undefined;
  }
}

export interface HeldLocks {
  release(): Promise<void>;
}

/**
 * Takes every named lock, in a fixed order (so two runs wanting the same two never deadlock), waiting up to the
 * bounded time for each; throws LockBusy naming the holder. `names` are e.g. "stack-acme", "lwa-<client id>".
 */
export async function acquireLocks(
  names: readonly { name: string; what: string }[],
  opts: { env: NodeJS.ProcessEnv; command: string; onCompromised?: (what: string) => void },
): Promise<HeldLocks> {
  const dir = lockDir(opts.env);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const wanted = [...new Map(names.map((n) => [n.name, n])).values()].sort((a, b) => a.name.localeCompare(b.name));
  const releases: (() => Promise<void>)[] = [];
  const releaseAll = async () => {
    for (const release of releases.splice(0).reverse()) await release().catch(() => undefined);
  };
  const waitMs = lockWaitMs(opts.env);
  for (const { name, what } of wanted) {
    const file = path.join(dir, fileName(name));
    const started = Date.now();
    let release: (() => Promise<void>) | undefined;
    for (;;) {
      try {
        release = await lockfile.lock(file, {
          realpath: false,
          lockfilePath: `${file}.lock`,
          stale: staleMs(opts.env),
          update: staleMs(opts.env) / 3,
          // The library's default throws from a timer, ending the process mid-step; the durable record and the
          // backend's own lock still stand, so the run is told and carries on.
          onCompromised: () => opts.onCompromised?.(what),
        });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ELOCKED") {
          await releaseAll();
          throw error;
        }
        const waited = Date.now() - started;
        if (waited >= waitMs) {
          await releaseAll();
          throw new LockBusy(what, readHolder(file), waited, staleMs(opts.env));
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(500, waitMs - waited)));
      }
    }
    releases.push(release);
    const holder: Holder = { pid: process.pid, command: opts.command, since: new Date().toISOString(), host: os.hostname() };
    fs.writeFileSync(file, JSON.stringify(holder), { mode: 0o600 });
  }
  return { release: releaseAll };
}

/** The lock names of one stack and of the LWA app it uses. */
export function stackLock(stack: string): { name: string; what: string } {
  return { name: `stack-${stack}`, what: `stack ${stack}` };
}

export function lwaAppLock(clientId: string): { name: string; what: string } {
  return { name: `lwa-${clientId}`, what: `LWA app ${clientId}` };
}
