/**
 * Printing: every line through a Redactor, and text from outside (a server's message, the CLI's standard error)
 * through printable. One implementation of each.
 */

/**
 * Keeping secrets out of the output. Every line the verify command prints passes through a Redactor:
 * the messages are written not to hold secrets in the first place, but an SDK or server message may echo
 * a value, so the printed text is scrubbed as a second line of defence.
 */

const REDACTED = "[redacted]";

/** The shapes of secrets that may reach us before we know their values (e.g. in an error from a server). */
const SECRET_SHAPES: readonly RegExp[] = [
  /Atz[ar]\|[^\s"',;<>]+/g, // LWA access and refresh tokens
  /amzn1\.oa2-cs\.v1\.[0-9a-f]+/g, // LWA client secrets
  /Signature=[0-9a-f]{16,}/g, // a SigV4 signature inside an Authorization header
  /X-Amz-Security-Token=[^\s&"]+/gi, // a session token in a presigned URL
];

/** "AKIAIOSFODNN7EXAMPLE" -> "AKIA…MPLE": enough to tell keys apart, not enough to use one. */
export function maskKeyId(keyId: string): string {
  return keyId.length <= 8 ? "…" : `${keyId.slice(0, 4)}…${keyId.slice(-4)}`;
}

export class Redactor {
  private readonly secrets = new Set<string>();
  private readonly keyIds = new Set<string>();

  /** Registers values never to print. Too-short values are ignored: scrubbing "a" would mangle every line. */
  addSecret(...values: (string | undefined)[]): void {
    for (const value of values) if (value && value.length >= 6) this.secrets.add(value);
  }

  /** Registers an access key id, which is printed masked rather than hidden. */
  addKeyId(...values: (string | undefined)[]): void {
    for (const value of values) if (value && value.length > 8) this.keyIds.add(value);
  }

  /** The text with every known secret, and anything shaped like one, replaced. */
  scrub(text: string): string {
    let result = text;
    // Longest first: a secret that contains another must go whole.
    for (const secret of [...this.secrets].sort((a, b) => b.length - a.length)) {
      result = result.split(secret).join(REDACTED);
      // A secret may also appear form- or URL-encoded (a request body echoed in an error).
      const encoded = encodeURIComponent(secret);
      if (encoded !== secret) result = result.split(encoded).join(REDACTED);
    }
    for (const shape of SECRET_SHAPES) result = result.replace(shape, REDACTED);
    for (const keyId of this.keyIds) result = result.split(keyId).join(maskKeyId(keyId));
    return result;
  }
}

/** ANSI escape sequences (CSI ... final byte, OSC ... BEL/ST) and single-character escapes. */
const TERMINAL_ESCAPE = /\u001b(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|[@-Z\\-_])/g;
/** C0 and C1 controls (tab and newline kept), and the Unicode controls that reorder or hide text. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Text from a server (or any peer) made safe to print: a terminal obeys escape sequences (clear the screen,
 * rewrite the line above, set the window title), so they are removed, with the control characters. Applied
 * before scrubbing: an escape placed inside a secret would otherwise split it past the redactor. */
export function withoutControls(text: string): string {
  return text.replace(TERMINAL_ESCAPE, "").replace(CONTROL, "");
}

/** Text from outside made safe to print on one line: escapes and controls removed, line breaks joined, cut at `max`. */
export function printable(text: string, max = 300): string {
  const plain = withoutControls(text).replace(/\s*[\r\n\t]+\s*/g, " ");
  return plain.length > max ? `${plain.slice(0, max)}…` : plain;
}

/**
 * How wide the fleet commands' tables may be: COLUMNS when set (the user's say, also in a pipe), else the
 * terminal's width, else 120 (a pipe or a scheduler's log). Never under 40: narrower, nothing fits.
 */
export function outputWidth(stream: { isTTY?: boolean; columns?: number }, env: NodeJS.ProcessEnv): number {
  const columns = Number(env.COLUMNS);
  const width = Number.isInteger(columns) && columns > 0 ? columns : stream.isTTY && stream.columns ? stream.columns : 120;
  return Math.max(40, width);
}

/** `text` cut to `width` characters, the cut marked with "…". */
export function fitLine(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/**
 * `text` broken at spaces into lines of at most `width` characters, the lines after the first indented by
 * `indent` spaces; a word longer than a line is cut across lines. Nothing is lost, unlike fitLine.
 */
export function wrapLine(text: string, width: number, indent = 4): string[] {
  // The first line keeps the text's own leading spaces; the others take `indent`.
  const lead = /^ */.exec(text)![0];
  const lines: string[] = [];
  let line = "";
  const margin = () => (lines.length === 0 ? lead.length : indent);
  const room = () => Math.max(1, width - margin());
  const flush = () => {
    lines.push(" ".repeat(margin()) + line);
    line = "";
  };
  for (let word of text.slice(lead.length).split(" ")) {
    if (line && line.length + 1 + word.length > room()) flush();
    while (word.length > room()) {
      if (line) flush();
      line = word.slice(0, room());
      word = word.slice(line.length);
      flush();
    }
    line = line ? `${line} ${word}` : word;
  }
  if (line || lines.length === 0) flush();
  return lines;
}

/**
 * As many of `names` as fit after `prefix` on one line of `width`, then "… and N more": a list of 500 stacks
 * as one line that says how many it leaves out.
 */
export function namesThatFit(prefix: string, names: readonly string[], width: number): string {
  for (let shown = names.length; shown > 0; shown--) {
    const rest = names.length - shown;
    const line = `${prefix}${names.slice(0, shown).join(", ")}${rest > 0 ? `, … and ${rest} more` : ""}`;
    if (line.length <= width) return line;
  }
  return fitLine(`${prefix}… ${names.length}`, width);
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A day (YYYY-MM-DD) worded from `today`, past dates as past: "in 5 days, on 2026-12-06", "today, 2026-12-01",
 * "5 days ago, on 2026-11-25".
 */
export function dayFromToday(day: string, today: string): string {
  const days = Math.round((Date.parse(`${day.slice(0, 10)}T00:00:00Z`) - Date.parse(`${today.slice(0, 10)}T00:00:00Z`)) / DAY_MS);
  const count = (n: number) => `${n} day${n === 1 ? "" : "s"}`;
  if (days === 0) return `today, ${day.slice(0, 10)}`;
  return days > 0 ? `in ${count(days)}, on ${day.slice(0, 10)}` : `${count(-days)} ago, on ${day.slice(0, 10)}`;
}
