/**
 * One run at a time per stack and per LWA app, across the processes and users of this host: a lock per key, held
 * by proper-lockfile (a directory created atomically, its mtime refreshed while the holder lives). A holder killed
 * with SIGKILL stops refreshing it, so the lock goes stale and the next run breaks it, safely (the library's own
 * rule); a holder that exits any other way (SIGINT, SIGTERM, an error) removes it.
 *
 * Keys: a stack's lock is keyed by the backend the stack lives in (PULUMI_BACKEND_URL, else Pulumi.yaml's
 * backend.url, else the CLI's current login, as the Pulumi CLI itself chooses) and the stack's name; an LWA app's by
 * its client id. Never by the user: two users, `sudo`, or a service account running on one host over one backend
 * take the same lock.
 *
 * Where: /tmp/sp-api-iam-locks by default, a directory every user of the host shares (SP_API_IAM_LOCK_DIR
 * overrides it). It is created mode 1777 (sticky, as /tmp): anyone may add to it, no one may remove another's
 * entry. Inside it each key has its own directory, created mode 0777 without the sticky bit, which holds the lock
 * itself (`lock`, proper-lockfile's directory) and `holder.json` (who holds it: pid, user, command, since when, for
 * the message a waiting run prints; no secret). Under a sticky parent a stale lock of user A could not be removed
 * by user B; inside the key's own 0777 directory it can, so a killed run of one user never blocks another's.
 *
 * A holder that was suspended (SIGSTOP, a laptop's sleep) past the stale time may have had its lock broken and
 * taken by another run. HeldLocks.assertHeld(next) is awaited before each side effect: it rejects with LockLost,
 * naming the step not taken, when the lock is no longer this run's. A lock found lost is never removed on
 * release (it may be the new holder's).
 *
 * These locks are per host. Runs on several hosts sharing one backend (S3) are kept from asking Amazon twice by
 * the durable rotation record, and from updating a stack at once by the backend's own update lock.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as lockfile from "proper-lockfile";
import { load as loadYaml } from "js-yaml";
import { CommandFailure } from "./cli";

/** A lock not refreshed for this long belongs to a process that is gone (the holder refreshes it every 5 s). */
export const STALE_LOCK_MS = 15_000;
export const DEFAULT_LOCK_WAIT_MS = 60_000;

/** The default lock directory: /tmp's own, not os.tmpdir(), which is per user on macOS and with pam_tmpdir. */
export const DEFAULT_LOCK_DIR = process.platform === "win32" ? path.join(os.tmpdir(), "sp-api-iam-locks") : "/tmp/sp-api-iam-locks";

/** Where the kit's Pulumi project is (its Pulumi.yaml may name the backend): SP_API_IAM_PROJECT_DIR, else this repository. */
const REPO_ROOT = path.resolve(__dirname, "..");

export interface Holder {
  pid: number;
  command: string;
  since: string;
  host: string;
  user?: string;
}

export interface LockKey {
  /** The key's directory name: a readable prefix and a hash of the full key ("stack-acme-1f0c…"). */
  name: string;
  /** What the lock guards, for messages: "stack acme", "LWA app amzn1.…". */
  what: string;
}

export class LockBusy extends Error {
  constructor(
    readonly what: string,
    readonly holder: Holder | undefined,
    waitedMs: number,
    staleAfterMs: number,
  ) {
    const as = holder?.user ? ` as ${holder.user}` : "";
    const who = holder ? `process ${holder.pid} (${holder.command}) on ${holder.host}${as} since ${holder.since}` : "another process";
    super(
      `${what} is in use by ${who}; waited ${Math.round(waitedMs / 1000)} s. ` +
        "Fix: let that run finish, then run again (a killed run's lock is broken by the next run after " +
        `${Math.round(staleAfterMs / 1000)} s).`,
    );
    this.name = "LockBusy";
  }
}

/** The lock directory (or a key's directory in it) cannot be created or used: one line, naming it and the override. */
export class LockDirError extends CommandFailure {
  constructor(
    readonly dir: string,
    cause: string,
  ) {
    super(
      `the lock directory ${dir} cannot be used (${cause}). Fix: set SP_API_IAM_LOCK_DIR to a directory every user ` +
        "running the kit on this host can write (docs/running-unattended.md, Locks)",
    );
    this.name = "LockDirError";
  }
}

/** A lock this run held was broken while it was suspended: it stops before its next side effect. */
export class LockLost extends CommandFailure {
  constructor(
    readonly what: string,
    readonly next: string,
  ) {
    super(
      `the lock on ${what} was lost while this run was suspended (another run may hold it now); stopped before ${next}. ` +
        "Run again: the next run reads what the other left and carries on from there",
    );
    this.name = "LockLost";
  }
}

export function lockDir(env: NodeJS.ProcessEnv): string {
  return env.SP_API_IAM_LOCK_DIR?.trim() || DEFAULT_LOCK_DIR;
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

const errno = (error: unknown) => (error as NodeJS.ErrnoException)?.code ?? (error instanceof Error ? error.name : "error");

/**
 * The backend a stack of this project lives in, as the Pulumi CLI chooses it: PULUMI_BACKEND_URL, else the
 * project's Pulumi.yaml `backend.url`, else the current login (<PULUMI_HOME or ~/.pulumi>/credentials.json
 * `current`), else Pulumi Cloud. Normalised so that one backend reads the same for every user: `file://~` is
 * expanded, a relative file path resolved against the project directory, an object store's query (region,
 * profile) dropped, trailing slashes removed. No CLI call: a file read or two.
 */
export function backendOf(env: NodeJS.ProcessEnv, workDir: string = env.SP_API_IAM_PROJECT_DIR?.trim() || REPO_ROOT): string {
  let url = env.PULUMI_BACKEND_URL?.trim() || "";
  if (!url) {
    try {
      const project = loadYaml(fs.readFileSync(path.join(workDir, "Pulumi.yaml"), "utf8")) as { backend?: { url?: unknown } } | undefined;
      if (typeof project?.backend?.url === "string") url = project.backend.url.trim();
    } catch {
      // no Pulumi.yaml there, or not YAML: the CLI would refuse it anyway
    }
  }
  if (!url) {
    const home = env.PULUMI_HOME?.trim() || path.join(os.homedir(), ".pulumi");
    try {
      const credentials = JSON.parse(fs.readFileSync(path.join(home, "credentials.json"), "utf8")) as { current?: unknown };
      if (typeof credentials.current === "string") url = credentials.current.trim();
    } catch {
      // not logged in: the CLI's default
    }
  }
  if (!url) url = "https://api.pulumi.com";
  const file = /^file:\/\/(.*)$/i.exec(url);
  if (file) {
    let dir = file[1]!.replace(/\?.*$/, "");
    if (dir === "~" || dir.startsWith("~/")) dir = path.join(os.homedir(), dir.slice(1));
    return `file://${path.resolve(workDir, dir || os.homedir())}`;
  }
  if (/^(s3|gs|azblob):\/\//i.test(url)) return url.replace(/\?.*$/, "").replace(/\/+$/, "");
  return url.replace(/\/+$/, "").toLowerCase();
}

/** A file-name-safe key: a readable prefix (at most 48 characters of [A-Za-z0-9._-]) and 16 hex of the full key's hash. */
function keyName(kind: string, readable: string, full: string): string {
  const prefix = readable
    .replace(/[^A-Za-z0-9._-]+/g, "_")
    .replace(/^[.]+/, "_")
    .slice(0, 48);
  const hash = crypto.createHash("sha256").update(`${kind}\0${full}`).digest("hex").slice(0, 16);
  return `${kind}-${prefix}-${hash}`;
}

/**
 * The lock of one stack: keyed by its backend and its name (a DIY backend's `organization/sp-api-iam/<name>` and
 * `<name>` are one stack), never by who runs the command.
 */
export function stackLock(stack: string, env: NodeJS.ProcessEnv, workDir?: string): LockKey {
  const backend = backendOf(env, workDir);
  const short = /^(file|s3|gs|azblob):/i.test(backend) ? stack.replace(/^organization\/sp-api-iam\//, "") : stack;
  return { name: keyName("stack", short, `${backend}\0sp-api-iam\0${short}`), what: `stack ${stack}` };
}

/** The lock of one LWA app: keyed by its client id alone (the app is Amazon's, whatever backend its stacks use). */
export function lwaAppLock(clientId: string): LockKey {
  return { name: keyName("lwa", clientId, clientId), what: `LWA app ${clientId}` };
}

/** The paths of one key's lock: its directory, proper-lockfile's lock directory in it, and the holder's note. */
export function lockPaths(key: LockKey, env: NodeJS.ProcessEnv): { dir: string; lock: string; holder: string } {
  const dir = path.join(lockDir(env), key.name);
  return { dir, lock: path.join(dir, "lock"), holder: path.join(dir, "holder.json") };
}

/**
 * Creates `dir` when missing, mode `mode` whatever the umask (the sticky bit is set by chmod after), and checks
 * that this user can write it. A symbolic link or anything but a directory is refused: a link planted in the shared
 * directory must not steer this run's writes elsewhere. Throws LockDirError naming `dir`.
 */
function ensureDir(dir: string, mode: number): void {
  let created = false;
  // Made with its mode at once (umask 0 for this one synchronous call): another user must never find it with the
  // umask's narrower mode, between the mkdir and a chmod.
  const umask = process.umask(0);
  try {
    fs.mkdirSync(dir, { mode });
    created = true;
  } catch (error) {
    if (errno(error) !== "EEXIST") throw new LockDirError(dir, `${errno(error)} creating it`);
  } finally {
    process.umask(umask);
  }
  const stat = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (!stat) throw new LockDirError(dir, "it vanished as it was created");
  if (stat.isSymbolicLink()) throw new LockDirError(dir, "it is a symbolic link");
  if (!stat.isDirectory()) throw new LockDirError(dir, "it is not a directory");
  if (created) {
    try {
      fs.chmodSync(dir, mode);
    } catch (error) {
      throw new LockDirError(dir, `${errno(error)} setting its mode`);
    }
  }
  checkWritable(dir, stat);
}

function checkWritable(dir: string, stat: fs.Stats): void {
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    if (errno(error) === "EROFS") throw new LockDirError(dir, "a read-only file system");
    const owner = stat.uid === process.getuid?.() ? "this user" : `uid ${stat.uid}`;
    throw new LockDirError(dir, `not writable by this user: owned by ${owner}, mode ${(stat.mode & 0o7777).toString(8)}`);
  }
}

/** A directory every user of the host adds to and no one user owns exclusively: created 1777, sticky as /tmp. */
export function makeSharedDir(dir: string): string {
  ensureDir(dir, 0o1777);
  return dir;
}

/**
 * The lock directory, created when missing: the default one mode 1777 (every user of the host adds to it), one
 * SP_API_IAM_LOCK_DIR names as the operator's umask makes it (they chose where; its mode is theirs). Throws
 * LockDirError (one line naming the directory and SP_API_IAM_LOCK_DIR) when it cannot be created or written.
 * maintain calls it once before any stack, so a fleet run says it once.
 */
export function prepareLockDir(env: NodeJS.ProcessEnv): string {
  const dir = lockDir(env);
  if (!env.SP_API_IAM_LOCK_DIR?.trim()) return makeSharedDir(dir);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new LockDirError(dir, `${errno(error)} creating it`);
  }
  const stat = fs.statSync(dir, { throwIfNoEntry: false });
  if (!stat?.isDirectory()) throw new LockDirError(dir, "it is not a directory");
  checkWritable(dir, stat);
  return dir;
}

function readHolder(file: string): Holder | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<Holder>;
    return typeof parsed.pid === "number" && typeof parsed.since === "string"
      ? {
          pid: parsed.pid,
          command: String(parsed.command ?? "?"),
          since: parsed.since,
          host: String(parsed.host ?? "?"),
          ...(typeof parsed.user === "string" ? { user: parsed.user } : {}),
        }
      : undefined;
  } catch {
    return undefined;
  }
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "?");
  }
}

/** Written through a temporary file renamed over the note (the key's directory is 0777 and not sticky: any user may). */
function writeHolder(file: string, holder: Holder): void {
  const temp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}`;
  try {
    fs.writeFileSync(temp, JSON.stringify(holder), { mode: 0o644 });
    fs.chmodSync(temp, 0o644); // whatever the umask: a waiting run of another user reads it
    fs.renameSync(temp, file);
  } catch {
    // Only the message a waiting run prints needs it ("another process" without it).
    fs.rmSync(temp, { force: true });
  }
}

export interface HeldLocks {
  /**
   * Rejects with LockLost when any of the locks is no longer this run's: proper-lockfile found it compromised, or
   * its directory is gone, is another (inode, creation time) or carries another holder's mtime. A lock still this
   * run's but not refreshed within the stale time (the process was suspended, or starved: another run may break it
   * at any moment) is first refreshed by proper-lockfile, whose update is then overdue: this waits for that, and
   * judges again. `next` names the side effect about to be taken.
   */
  assertHeld(next: string): Promise<void>;
  release(): Promise<void>;
}

/** One lock held: what proper-lockfile set last, so that ownership can be checked and a lost lock left alone. */
class OneLock {
  mtime?: Date;
  /** The time a refresh is setting right now (its callback not yet run). */
  settingMtime?: Date;
  ino = 0;
  birthtimeMs = 0;
  refreshedAt = 0;
  /** Woken by each refresh this run makes and by proper-lockfile finding the lock compromised. */
  private waiters: (() => void)[] = [];
  compromised = false;
  lost = false;
  held = false;
  release?: () => Promise<void>;
  /** proper-lockfile's file system: node's, recording each mtime it sets, and never removing a lock no longer ours. */
  readonly fs: object;

  constructor(
    readonly key: LockKey,
    readonly lockPath: string,
    readonly staleAfterMs: number,
  ) {
    this.fs = {
      mkdir: fs.mkdir,
      stat: fs.stat,
      realpath: fs.realpath,
      utimes: (file: string, atime: Date, mtime: Date, callback: (error: NodeJS.ErrnoException | null) => void) => {
        // In flight, the directory may already carry the new time before this callback runs: both are this run's.
        if (file === this.lockPath) this.settingMtime = mtime;
        fs.utimes(file, atime, mtime, (error) => {
          if (file === this.lockPath) this.settingMtime = undefined;
          if (!error && file === this.lockPath && this.held && !this.lost) {
            this.mtime = mtime;
            this.refreshedAt = Date.now();
            this.wake();
          }
          callback(error);
        });
      },
      rmdir: (file: string, callback: (error: NodeJS.ErrnoException | null) => void) => {
        if (file === this.lockPath && this.held && !this.owned()) return callback(null);
        fs.rmdir(file, callback);
      },
      rmdirSync: (file: string) => {
        if (file === this.lockPath && this.held && !this.owned()) return;
        fs.rmdirSync(file);
      },
    };
  }

  /** Still this run's: not found lost or compromised, the same directory, and its mtime the one this run set last (or is setting). */
  owned(): boolean {
    if (this.lost || this.compromised) return false;
    const stat = fs.statSync(this.lockPath, { throwIfNoEntry: false });
    // The same directory (another run's new one has its own inode and creation time), refreshed last by this run.
    return (
      stat !== undefined &&
      stat.ino === this.ino &&
      stat.birthtimeMs === this.birthtimeMs &&
      [this.mtime, this.settingMtime].some((mtime) => mtime !== undefined && mtime.getTime() === stat.mtime.getTime())
    );
  }

  /** Not refreshed within the stale time: another run may judge it stale and break it at any moment. */
  overdue(): boolean {
    return Date.now() - this.refreshedAt > this.staleAfterMs;
  }

  wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The next refresh (or compromise): proper-lockfile either refreshes, retries each second, or gives up; bounded at twice the stale time. */
  nextRefresh(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 2 * this.staleAfterMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Right after proper-lockfile took it: its mtime is this run's. */
  taken(release: () => Promise<void>): void {
    this.release = release;
    const stat = fs.statSync(this.lockPath);
    this.mtime = stat.mtime;
    this.ino = stat.ino;
    this.birthtimeMs = stat.birthtimeMs;
    this.refreshedAt = Date.now();
    this.held = true;
  }
}

let acquisitions = 0;

/**
 * Takes every lock, in a fixed order (so two runs wanting the same two never deadlock), waiting up to the bounded
 * time for each; throws LockBusy naming the holder, LockDirError when the directory cannot be created or used.
 * Keys come from stackLock and lwaAppLock.
 */
export async function acquireLocks(
  keys: readonly LockKey[],
  opts: { env: NodeJS.ProcessEnv; command: string; onCompromised?: (what: string) => void },
): Promise<HeldLocks> {
  prepareLockDir(opts.env);
  const wanted = [...new Map(keys.map((k) => [k.name, k])).values()].sort((a, b) => a.name.localeCompare(b.name));
  const held: OneLock[] = [];
  const releaseAll = async () => {
    for (const lock of held.splice(0).reverse()) {
      if (!lock.owned()) lock.lost = true;
      await lock.release?.().catch(() => undefined);
    }
  };
  const waitMs = lockWaitMs(opts.env);
  const stale = staleMs(opts.env);
  for (const key of wanted) {
    const paths = lockPaths(key, opts.env);
    const started = Date.now();
    const lock = new OneLock(key, paths.lock, stale);
    let vanished = 0;
    for (;;) {
      try {
        // The key's own directory, 0777 and not sticky, so any user may break a stale lock in it.
        ensureDir(paths.dir, 0o777);
        // The first argument is only the library's name for this lock within the process (nothing is made there):
        // one per acquisition, so that a lock broken and taken again in this process is a separate entry.
        const release = await lockfile.lock(path.join(paths.dir, `#${process.pid}-${++acquisitions}`), {
          realpath: false,
          lockfilePath: paths.lock,
          stale,
          update: stale / 3,
          fs: lock.fs,
          // The library's default throws from a timer, ending the process mid-step. Here the run is told, and
          // assertHeld stops it before its next side effect.
          onCompromised: () => {
            lock.compromised = true;
            lock.wake();
            opts.onCompromised?.(key.what);
          },
        });
        lock.taken(release);
        break;
      } catch (error) {
        const code = errno(error);
        // The key's directory went (a /tmp cleaner) between the two steps: again, a few times.
        if (code === "ENOENT" && ++vanished < 3) continue;
        if (code !== "ELOCKED") {
          await releaseAll();
          if (error instanceof LockDirError) throw error;
          if (["EACCES", "EPERM", "EROFS", "ENOENT", "ENOSPC"].includes(code)) throw new LockDirError(paths.dir, `${code} taking the lock`);
          throw error;
        }
        const waited = Date.now() - started;
        if (waited >= waitMs) {
          await releaseAll();
          throw new LockBusy(key.what, readHolder(paths.holder), waited, stale);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(500, waitMs - waited)));
      }
    }
    held.push(lock);
    writeHolder(paths.holder, { pid: process.pid, command: opts.command, since: new Date().toISOString(), host: os.hostname(), user: userName() });
  }
  return {
    async assertHeld(next: string) {
      for (const lock of held) {
        if (lock.owned() && lock.overdue()) await lock.nextRefresh();
        if (lock.owned() && !lock.overdue()) continue;
        lock.lost = true;
        throw new LockLost(lock.key.what, next);
      }
    },
    release: releaseAll,
  };
}

/**
 * Runs `locked` holding the locks, and releases them after it, whatever happened. A lock that is busy, a lock
 * directory that cannot be used, and a lock lost on the way are all answered by `refuse`, given the one-line reason:
 * after a lost lock nothing more is done, not even a put-back, because the run holding it now decides.
 */
export async function withLocks<T>(
  keys: readonly LockKey[],
  opts: Parameters<typeof acquireLocks>[1],
  refuse: (reason: string) => T,
  locked: (locks: HeldLocks) => Promise<T>,
): Promise<T> {
  let locks: HeldLocks;
  try {
    locks = await acquireLocks(keys, opts);
  } catch (error) {
    if (error instanceof LockBusy || error instanceof LockDirError) return refuse(error.message);
    throw error;
  }
  try {
    return await locked(locks);
  } catch (error) {
    if (error instanceof LockLost) return refuse(error.message);
    throw error;
  } finally {
    await locks.release();
  }
}
