/**
 * Writing new values into a job config's text, touching nothing else: JSON through jsonc-parser's
 * modify/applyEdits, HJSON by replacing each value's own characters (./hjson-spans). Every value is
 * written JSON-quoted, which JSON and every conforming HJSON parser read back byte for byte.
 * Before the text is handed back, it is read again with an independent parser (JSON.parse, the hjson
 * package) and must equal the original document with exactly these values changed; otherwise EditCheckFailed.
 * Pure: text in, text out.
 */
import { isDeepStrictEqual } from "node:util";
import * as Hjson from "hjson";
import * as jsonc from "jsonc-parser";
import { CredentialField } from "../../src/credentials";
import { DocFormat, DocNode, DocPath } from "./documents";

export interface ValueEdit {
  /** The object holding the field. */
  path: DocPath;
  field: CredentialField;
  /** The field's value node in the current text. */
  node: DocNode;
  value: string;
}

export class EditCheckFailed extends Error {
  constructor() {
    super("the edited text did not read back as the original with only the new values: nothing written (please report this)");
  }
}

const BOM = "\uFEFF";

function readIndependently(text: string, format: DocFormat): unknown {
  const source = text.startsWith(BOM) ? ` ${text.slice(1)}` : text;
  return format === "json" ? JSON.parse(source) : Hjson.parse(source);
}

function setAt(document: unknown, at: DocPath, field: string, value: string): void {
  let node: any = document;
  for (const segment of at) {
    if (node === null || typeof node !== "object" || !(segment in node)) throw new EditCheckFailed();
    node = node[segment];
  }
  if (node === null || typeof node !== "object" || !(field in node)) throw new EditCheckFailed();
  node[field] = value;
}

export function applyValueEdits(text: string, format: DocFormat, edits: readonly ValueEdit[]): string {
  if (edits.length === 0) return text;
  let edited: string;
  if (format === "json") {
    // jsonc-parser does not read a byte order mark: hand it a space of the same length, then put the mark back.
    const hasBom = text.startsWith(BOM);
    edited = hasBom ? ` ${text.slice(1)}` : text;
    for (const edit of edits) edited = jsonc.applyEdits(edited, jsonc.modify(edited, [...edit.path, edit.field], edit.value, {}));
    if (hasBom) edited = BOM + edited.slice(1);
  } else {
    edited = text;
    // From the end of the text backwards, so the offsets of edits not yet made stay right.
    for (const edit of [...edits].sort((a, b) => b.node.start - a.node.start)) {
      edited = edited.slice(0, edit.node.start) + JSON.stringify(edit.value) + edited.slice(edit.node.end);
    }
  }
  let expected: unknown;
  let actual: unknown;
  try {
    expected = readIndependently(text, format);
    actual = readIndependently(edited, format);
  } catch {
    throw new EditCheckFailed();
  }
  for (const edit of edits) setAt(expected, edit.path, edit.field, edit.value);
  if (!isDeepStrictEqual(actual, expected)) throw new EditCheckFailed();
  return edited;
}
