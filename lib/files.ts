/**
 * Files the commands write: credentials blocks (private to their owner) and job configs (rewritten in place).
 * Every write goes to a temporary file in the same directory and is renamed over the target, so a reader never
 * sees half a file and an interrupted run leaves the old file whole.
 */
import { spawnSync } from "child_process";
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
