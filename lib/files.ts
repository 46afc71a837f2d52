/**
 * Files the commands write: credentials blocks (private to their owner) and job configs (rewritten in place).
 * Every write goes to a temporary file in the same directory and is renamed over the target, so a reader never
 * sees half a file and an interrupted run leaves the old file whole. The temporary file never outlives the
 * run: it is removed on an error, on an exit, and on SIGINT, SIGTERM or SIGHUP (through signal-exit, which
 * also ends the process as the signal would have); one left by SIGKILL is removed by the next write of the
 * same file, and its name is git-ignored (.gitignore: `.*.sp-api-iam.*.tmp`).
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as Hjson from "hjson";
import { onExit } from "signal-exit";
import { CREDENTIAL_FIELDS } from "../src/credentials";

/**
 * A path as the user meant it: relative to the directory they ran the command in. `npm run` changes into the
 * project directory and keeps the original one in INIT_CWD.
 */
export function userPath(file: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.INIT_CWD || process.cwd(), file);
}

export class FileRefusal extends Error {}

/** The file changed between the caller's read and the rename: nothing was written. */
export class ChangedMeanwhile extends Error {}

/** Marks a temporary file as ours: what .gitignore and the sweep of leftovers match. */
const TEMP_TAG = "sp-api-iam";

function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${TEMP_TAG}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temporary files an earlier write of `file` left when its process was killed outright
 * (SIGKILL, a power cut): ours by name, and their process gone. A file of a run still going is left alone.
 */
function sweepLeftovers(file: string): void {
  const pattern = new RegExp(`^\\.${escapeRegExp(path.basename(file))}\\.${TEMP_TAG}\\.(\\d+)\\.[0-9a-f]{8}\\.tmp$`);
  let names: string[];
  try {
    names = fs.readdirSync(path.dirname(file));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (!pid || pid === process.pid || isRunning(pid)) continue;
    try {
      fs.rmSync(path.join(path.dirname(file), name), { force: true });
    } catch {
      // Another user's, in a sticky directory: theirs to remove; the write itself goes on.
    }
  }
}

/** Temporary files being written right now. */
const liveTemps = new Set<string>();
let exitHookInstalled = false;

/**
 * Installed once, before the first temporary file exists, and kept: a signal that arrives while a write runs
 * is handled when the (synchronous) write is over, so the file is renamed or removed by then, and whatever is
 * still listed is removed before the process ends. Removing the hook after each write would lose a signal
 * that arrived during it.
 */
function removeTempsOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  onExit(() => {
    for (const temp of liveTemps) {
      try {
        fs.rmSync(temp, { force: true });
      } catch {
        // The process is ending: nothing better to do than remove the others.
      }
    }
    liveTemps.clear();
  });
}

/**
 * Lets a signal that arrived during a (synchronous) write take effect now that the file is whole: the event loop
 * reads pending signals only when it polls, and a run that ends without polling again would exit 0 as if never
 * interrupted. Awaited between files, a SIGINT stops a run after the file it was writing.
 */
export function honourPendingSignals(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Ownership {
  uid: number;
  gid: number;
}

/**
 * `unchanged` (optional) is asked after the new file is complete and on disk, just before the rename: the
 * smallest window in which another writer's change could still be lost. False: ChangedMeanwhile, nothing written.
 */
function atomicWrite(file: string, text: string, mode: number, owner?: Ownership, unchanged?: () => boolean): void {
  removeTempsOnExit();
  sweepLeftovers(file);
  const temp = tempName(file);
  // "wx": never follow or reuse something already at the temporary name. 600 until it is done: it holds secrets.
  const fd = fs.openSync(temp, "wx", 0o600);
  liveTemps.add(temp);
  try {
    try {
      fs.writeSync(fd, text);
      if (owner) {
        try {
          fs.fchownSync(fd, owner.uid, owner.gid);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === "EPERM" || code === "EINVAL") throw new FileRefusal(`its owner and group (${owner.uid}:${owner.gid}) could not be kept (${code})`);
          throw error;
        }
      }
      // After the chown, which clears set-id bits; and the umask may have narrowed the mode.
      fs.fchmodSync(fd, mode);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (unchanged && !unchanged()) throw new ChangedMeanwhile(`${file} changed while it was being written`);
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  } finally {
    liveTemps.delete(temp);
  }
}

/** The name the block a write replaces is kept under (mode 600): `<file>.previous`. */
export function previousBlockFile(file: string): string {
  return `${file}.previous`;
}

function isCredentialKey(key: string): boolean {
  return (CREDENTIAL_FIELDS as readonly string[]).includes(key);
}

/** An object of credential fields only, each a string: the inside of a block, or a named credential's JSON content. */
function isFieldsOnly(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  return entries.length > 0 && entries.every(([k, v]) => isCredentialKey(k) && typeof v === "string");
}

/** Somewhere in it, an object with a `credentials` member or two credential fields: a job config (or several). */
function holdsJobConfig(value: unknown, depth = 0): boolean {
  if (typeof value !== "object" || value === null || depth > 100) return false;
  if (Array.isArray(value)) return value.some((item) => holdsJobConfig(item, depth + 1));
  const keys = Object.keys(value);
  if (keys.includes("credentials") || keys.filter(isCredentialKey).length >= 2) return true;
  return Object.values(value).some((item) => holdsJobConfig(item, depth + 1));
}

/**
 * What an existing regular file holds, as far as writing a credentials block over it goes: nothing (empty), a
 * block the kit writes (`credentials: { <fields> }`, or the JSON object of a named credential's fields), a job
 * config, or something else. Reads the file; names no value.
 */
export function existingFileKind(file: string): "empty" | "block" | "job-config" | "other" {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return "other";
  }
  if (text.trim() === "") return "empty";
  let parsed: unknown;
  try {
    parsed = Hjson.parse(text);
  } catch {
    return "other";
  }
  if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
    const keys = Object.keys(parsed);
    if (keys.length === 1 && keys[0] === "credentials" && isFieldsOnly((parsed as { credentials: unknown }).credentials)) return "block";
    if (isFieldsOnly(parsed)) return "block";
  }
  return holdsJobConfig(parsed) ? "job-config" : "other";
}

/**
 * Why a credentials block may not be written over `file` (shown as `shown`): it exists and is not a block the kit
 * writes. Only a person who names a job config with --into has its credentials changed; anything else is theirs.
 */
export function notABlockFile(file: string, shown: string = file): string | undefined {
  const existing = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!existing?.isFile()) return undefined;
  switch (existingFileKind(file)) {
    case "empty":
    case "block":
      return undefined;
    case "job-config":
      return (
        `${shown} holds a job config, not a credentials block this kit wrote; it was left as it was. To write this stack's values ` +
        `into it, use --into: npm run credentials -- --stack <name> --into ${shown}. To write a block, give another file name`
      );
    default:
      return `${shown} exists and is not a credentials block this kit wrote; it was left as it was. Give another file name, or move it away first`;
  }
}

/**
 * Writes a credentials block, readable by its owner only (mode 600). Refuses a directory, anything but a regular
 * file, and an existing file that is not a block the kit wrote (notABlockFile: a job config, a person's file).
 * A block it replaces, when different, is kept as `<file>.previous` (mode 600, replacing an older one): the values
 * a job may still use are never lost to a write. Returns the path of the kept block, if any.
 */
export function writePrivateFile(file: string, text: string): { previous?: string } {
  const existing = fs.lstatSync(file, { throwIfNoEntry: false });
  if (existing && existing.isDirectory()) throw new FileRefusal(`${file} is a directory; give a file name (e.g. ${path.join(file, "credentials.hjson")})`);
  if (existing && !existing.isFile()) throw new FileRefusal(`${file} is not a regular file (a link, a device or a pipe); give a file name`);
  const refusal = notABlockFile(file);
  if (refusal) throw new FileRefusal(refusal);
  let previous: string | undefined;
  if (existing) {
    const old = fs.readFileSync(file, "utf8");
    if (old.trim() !== "" && old !== text) {
      previous = previousBlockFile(file);
      atomicWrite(previous, old, 0o600);
    }
  }
  atomicWrite(file, text, 0o600);
  return previous ? { previous } : {};
}

/** Who runs this process, as far as keeping a file's owner and group goes. */
export interface Writer {
  uid: number;
  gids: readonly number[];
}

function currentWriter(): Writer {
  return { uid: process.getuid!(), gids: [process.getgid!(), ...process.getgroups!()] };
}

/**
 * Why a file cannot be rewritten in place without changing what its users rely on, or undefined when it can.
 * The rewrite is a new file renamed over the old one: it would split a file with several hard links (the
 * other names keeping the old values), take over a file whose owner or group this process cannot give the new
 * one, and defeat a read-only mode. The reason names no path: the caller says which file.
 */
export function whyNotRewritable(stat: fs.Stats, writer: Writer = currentWriter()): string | undefined {
  if (!stat.isFile()) return "not a regular file";
  if (stat.nlink > 1) {
    return `it has ${stat.nlink} hard links, and a rewrite would split them (the other names keeping the old values); make it a single file, or give the job the block yourself`;
  }
  const mode = (stat.mode & 0o7777).toString(8).padStart(3, "0");
  if ((stat.mode & 0o200) === 0) return `it is read-only (mode ${mode}); make it writable by its owner (chmod u+w) if it should be updated`;
  if (writer.uid !== 0) {
    if (stat.uid !== writer.uid) return `it is owned by uid ${stat.uid}, and a rewrite by uid ${writer.uid} would take it over; run as its owner or as root`;
    if (!writer.gids.includes(stat.gid))
      return `its group is gid ${stat.gid}, which uid ${writer.uid} cannot give the new file; run as root or as a member of that group`;
  }
  return undefined;
}

/**
 * Rewrites an existing regular file, keeping its mode, owner and group (as root, the new file is given them
 * before the rename). Refuses (FileRefusal, with the reason alone) what whyNotRewritable refuses: such a file
 * is left as it was. With `unchanged`, throws ChangedMeanwhile (nothing written) when it says the file changed.
 */
export function writeFileKeepingMode(file: string, text: string, unchanged?: () => boolean): void {
  const existing = fs.lstatSync(file);
  const refusal = whyNotRewritable(existing);
  if (refusal) throw new FileRefusal(refusal);
  atomicWrite(file, text, existing.mode & 0o7777, { uid: existing.uid, gid: existing.gid }, unchanged);
}

/**
 * A warning when `file` (just written, holding secrets) lies in a git work tree and git does not ignore it: one
 * `git add .` and a commit would publish the secrets. Nothing when git ignores it, when it is not in a work tree, or
 * when git is not installed. `shown` is the name the messages use for it.
 */
export function gitExposureWarning(file: string, shown: string = file): string | undefined {
  // check-ignore: 0 ignored, 1 not ignored (a tracked file counts as not ignored: it is in the repository already),
  // 128 not a work tree. GIT_OPTIONAL_LOCKS=0: a read that never takes the index lock from a git command running beside it.
  const result = spawnSync("git", ["check-ignore", "-q", "--", path.basename(file)], {
    cwd: path.dirname(file),
    env: { ...process.env, GIT_OPTIONAL_LOCKS: "0" },
    stdio: "ignore",
    timeout: 10_000,
  });
  if (result.error || result.status !== 1) return undefined;
  return (
    `Warning: ${shown} holds secrets and is inside a git work tree that does not ignore it: a commit would publish them. ` +
    `Add it to that repository's .gitignore, or write it outside the repository.`
  );
}

/** A stack name as a file name: Pulumi's org/project/stack form keeps only its last part; nothing can escape the directory. */
export function blockFileName(stack: string): string {
  return `${stack
    .split("/")
    .pop()!
    .replace(/[^\w.-]/g, "_")}.hjson`;
}

/**
 * Why a credentials block could not be written to `file`, checked before anything is changed (a rotation must not
 * store and deploy a secret and only then find its block has nowhere to go); undefined when it can be.
 */
/**
 * The directory for the blocks. Created with mode 700 when it does not exist (it will hold every customer's
 * block); one that exists is the operator's and keeps its mode (a shared 1777 or 2775 directory narrowed to 700
 * would break everyone else using it): each block in it is written mode 600 anyway.
 */
export function preparePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) throw new Error(`${dir} is not a directory`);
}

/**
 * Where the stacks' blocks go when no command line names a file: `<dir>/<stack>.hjson` in the kit's private
 * credentials directory, `credentials/` (what `npm run maintain` writes, and its --out-dir's default).
 */
export const DEFAULT_BLOCK_DIR = "credentials";

export function unwritableBlockFile(file: string, opts: { dryRun?: boolean } = {}): string | undefined {
  const existing = fs.lstatSync(file, { throwIfNoEntry: false });
  if (existing?.isDirectory()) return `${file} is a directory; give a file name (e.g. ${path.join(file, "credentials.hjson")})`;
  if (existing && !existing.isFile()) return `${file} is not a regular file (a link, a device or a pipe); give a file name`;
  const notBlock = notABlockFile(file);
  if (notBlock) return notBlock;
  const dir = path.dirname(file);
  const parent = fs.statSync(dir, { throwIfNoEntry: false });
  // A dry run writes nothing, not even the directory (maintain creates it only for a real run).
  if (!parent && opts.dryRun) return undefined;
  if (!parent?.isDirectory()) return `${dir} does not exist or is not a directory; create it or give another file`;
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    return `${dir} is not writable by this user; give a file in a directory you can write`;
  }
  return undefined;
}
