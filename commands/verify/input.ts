/**
 * Reading the block from a file or standard input, as a stream and with a cap. Not readFileSync(0): once
 * anything has looked at process.stdin (isTTY does), fd 0 is non-blocking and a slow producer such as
 * `(sleep 1; cat credentials.hjson) | npm run verify` makes readFileSync fail with EAGAIN.
 */
import * as fs from "fs";
import { userPath } from "../../lib/files";
import { MAX_INPUT_BYTES } from "./block";

export type InputResult = { ok: true; text: string } | { ok: false; message: string };

/** Reads `stream` to its end, or stops (and destroys it) at more than `maxBytes`: a huge or endless input is
 * refused without being held in memory. */
export async function readCapped(stream: NodeJS.ReadableStream & { destroy?(): void }, what: string, maxBytes = MAX_INPUT_BYTES): Promise<InputResult> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
      size += buffer.length;
      if (size > maxBytes) {
        stream.destroy?.();
        return {
          ok: false,
          message: `${what} is larger than ${maxBytes / 1024} KiB: that is not a credentials block (one is about 1 KiB); give the block alone`,
        };
      }
      chunks.push(buffer);
    }
  } catch (error) {
    return { ok: false, message: `cannot read ${what} (${errorCode(error)})` };
  }
  return { ok: true, text: Buffer.concat(chunks).toString("utf8") };
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === "string" && /^[A-Z0-9_]{1,32}$/.test(code) ? code : "read error";
}

/** The block's text from a file (resolved as the user meant it) or from standard input. */
export async function readInput(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<InputResult> {
  if (file === undefined) return readCapped(process.stdin, "standard input");
  const resolved = userPath(file, env);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(resolved);
  } catch (error) {
    return { ok: false, message: `cannot read ${file} (${errorCode(error)})` };
  }
  if (stat.isDirectory()) return { ok: false, message: `${file} is a directory; give the credentials file` };
  return readCapped(fs.createReadStream(resolved), file);
}
