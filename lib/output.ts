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
