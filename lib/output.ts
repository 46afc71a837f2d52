/**
 * What the stack-driving commands print: every line through a Redactor, and text from outside (a server's
 * message, the CLI's standard error) through printable. One implementation of each, verify's.
 */
import { printable as withoutControls } from "./redact";

export { maskKeyId, Redactor } from "./redact";

/** Text from outside made safe to print on one line: escapes and controls removed, line breaks joined, cut at `max`. */
export function printable(text: string, max = 300): string {
  const plain = withoutControls(text).replace(/\s*[\r\n\t]+\s*/g, " ");
  return plain.length > max ? `${plain.slice(0, max)}…` : plain;
}
