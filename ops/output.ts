/**
 * What the stack-driving commands print: every line through a Redactor (one implementation, verify's), with
 * control characters a server or the CLI may send (ANSI escapes that could rewrite the terminal) removed.
 */
export { maskKeyId, Redactor } from "../verify/redact";

/** Text from outside (a server's message, the CLI's stderr) made safe to print on one line. */
export function printable(text: string, max = 300): string {
  const plain = text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "").replace(/[\x00-\x1f\x7f-\x9f]+/g, " ");
  return plain.length > max ? `${plain.slice(0, max)}…` : plain;
}
