/**
 * Files the commands write: credentials blocks (private to their owner) and job configs (rewritten in place).
 * Every write goes to a temporary file in the same directory and is renamed over the target, so a reader never
 * sees half a file and an interrupted run leaves the old file whole.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/**
 * A path as the user meant it: relative to the directory they ran the command in. `npm run` changes into the
 * project directory and keeps the original one in INIT_CWD.
 */
export function userPath(file: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.INIT_CWD || process.cwd(), file);
}

export class FileRefusal extends Error {}

function atomicWrite(file: string, text: string, mode: number): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`);
  // "wx": never follow or reuse something already at the temporary name.
  const fd = fs.openSync(temp, "wx", mode);
  try {
    fs.writeSync(fd, text);
    fs.fchmodSync(fd, mode); // the umask may have narrowed or (for a kept mode) not matched it
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

/** Writes a file only its owner can read (mode 600). Refuses a directory or anything but a regular file there. */
export function writePrivateFile(file: string, text: string): void {
  const existing = fs.lstatSync(file, { throwIfNoEntry: false });
  if (existing && existing.isDirectory()) throw new FileRefusal(`${file} is a directory; give a file name (e.g. ${path.join(file, "credentials.hjson")})`);
  if (existing && !existing.isFile()) throw new FileRefusal(`${file} is not a regular file (a link, a device or a pipe); give a file name`);
  atomicWrite(file, text, 0o600);
}

/** Rewrites an existing regular file, keeping its mode. */
export function writeFileKeepingMode(file: string, text: string): void {
  const existing = fs.lstatSync(file);
  if (!existing.isFile()) throw new FileRefusal(`${file} is not a regular file`);
  atomicWrite(file, text, existing.mode & 0o7777);
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
export function unwritableBlockFile(file: string, opts: { dryRun?: boolean } = {}): string | undefined {
  const existing = fs.lstatSync(file, { throwIfNoEntry: false });
  if (existing?.isDirectory()) return `${file} is a directory; give a file name (e.g. ${path.join(file, "credentials.hjson")})`;
  if (existing && !existing.isFile()) return `${file} is not a regular file (a link, a device or a pipe); give a file name`;
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
