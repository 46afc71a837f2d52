/**
 * Job config files as trees of values that remember where each value sits in the text: JSON read by
 * jsonc-parser (strict JSON: no comments, no trailing commas), HJSON by ./hjson-spans. Both give the same
 * tree, so finding and classifying credentials does not care which format a file is in.
 * Pure: text in, tree or a parse failure (line and reason, never the text) out.
 */
import * as path from "node:path";
import * as jsonc from "jsonc-parser";
import { HjsonNode, HjsonSyntaxError, HjsonTooDeep, MAX_NESTING, parseHjsonSpans } from "./hjson-spans";

export type DocNode = HjsonNode;
export type DocFormat = "json" | "hjson";
export type DocPath = readonly (string | number)[];

export type ParsedDocument = { ok: true; root: DocNode } | { ok: false; line: number; reason: string };

/** `.json` files are JSON; anything else named explicitly is read as HJSON (of which JSON is a subset). */
export function formatOf(file: string): DocFormat {
  return path.extname(file).toLowerCase() === ".json" ? "json" : "hjson";
}

/** Files a directory contributes: its JSON and HJSON files. */
export function isJobConfigName(name: string): boolean {
  return /\.(json|hjson)$/i.test(name);
}

/**
 * A UTF-8 byte order mark is read as whitespace: replacing it by a space keeps every offset, and writing
 * edits into the original text keeps the mark.
 */
function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? ` ${text.slice(1)}` : text;
}

function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split("\n").length;
}

function fromJsonc(node: jsonc.Node): DocNode {
  const span = { start: node.offset, end: node.offset + node.length };
  switch (node.type) {
    case "object":
      return {
        kind: "object",
        ...span,
        members: (node.children ?? []).map((property) => {
          const [key, value] = property.children ?? [];
          return { key: String(key.value), value: fromJsonc(value) };
        }),
      };
    case "array":
      return { kind: "array", ...span, items: (node.children ?? []).map(fromJsonc) };
    case "string":
      return { kind: "string", form: "quoted", value: String(node.value), ...span };
    default:
      return { kind: "literal", value: node.value as number | boolean | null, ...span };
  }
}

/**
 * Where JSON first nests deeper than MAX_NESTING, found by jsonc-parser's scanner (a loop, unlike its parser,
 * which recurses once per level): undefined when it does not.
 */
function tooDeepAt(source: string): number | undefined {
  const scanner = jsonc.createScanner(source, true);
  let depth = 0;
  for (let token = scanner.scan(); token !== jsonc.SyntaxKind.EOF; token = scanner.scan()) {
    if (token === jsonc.SyntaxKind.OpenBraceToken || token === jsonc.SyntaxKind.OpenBracketToken) {
      if (++depth > MAX_NESTING) return scanner.getTokenOffset();
    } else if (token === jsonc.SyntaxKind.CloseBraceToken || token === jsonc.SyntaxKind.CloseBracketToken) depth--;
  }
  return undefined;
}

export function parseDocument(text: string, format: DocFormat): ParsedDocument {
  const source = withoutBom(text);
  if (format === "json") {
    const deep = tooDeepAt(source);
    if (deep !== undefined) return { ok: false, line: lineOf(source, deep), reason: `not read: nested deeper than ${MAX_NESTING} levels` };
    const errors: jsonc.ParseError[] = [];
    const root = jsonc.parseTree(source, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
    if (errors.length > 0 || !root) {
      const first = errors[0];
      return first
        ? { ok: false, line: lineOf(source, first.offset), reason: `not valid JSON (${jsonc.printParseErrorCode(first.error)})` }
        : { ok: false, line: 1, reason: "not valid JSON (empty)" };
    }
    return { ok: true, root: fromJsonc(root) };
  }
  try {
    return { ok: true, root: parseHjsonSpans(source) };
  } catch (error) {
    if (error instanceof HjsonSyntaxError) {
      return {
        ok: false,
        line: error.line,
        reason: error instanceof HjsonTooDeep ? `not read: ${error.reason}` : `not valid HJSON (${error.reason})`,
      };
    }
    throw error;
  }
}

/** The plain value a tree stands for (what JSON.parse / Hjson.parse give). */
export function plainValue(node: DocNode): unknown {
  switch (node.kind) {
    case "object": {
      const object: Record<string, unknown> = {};
      for (const member of node.members) object[member.key] = plainValue(member.value);
      return object;
    }
    case "array":
      return node.items.map(plainValue);
    default:
      return node.value;
  }
}

/** `jobs[2].input.credentials`; keys that are not plain names are quoted: `["my key"]`. */
export function formatPath(docPath: DocPath): string {
  let out = "";
  for (const segment of docPath) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out || "(the document)";
}
