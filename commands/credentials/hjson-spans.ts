/**
 * An HJSON reader that keeps where each value sits in the source, so a value can be replaced by editing
 * only its own characters: comments, layout, key order and every other value stay byte for byte.
 * (The hjson package's comment-keeping mode re-formats the whole file when it writes it back.)
 *
 * It follows the hjson package's own parser (lib/hjson-parse.js, 3.2.x) step for step, so both read the
 * same text the same way, including its quirks: quoteless strings run to the end of the line (a '#' in one
 * is text, not a comment), a braceless root object, multi-line ''' strings with their indentation removed.
 * test/credentials-delivery.test.ts holds it to the hjson package on every fixture and on generated text.
 * Pure: text in, a tree out, or an HjsonSyntaxError with the line and column (never the text around it).
 */

export interface Span {
  /** Offset of the value's first character. */
  start: number;
  /** Offset just past its last character. */
  end: number;
}

export type HjsonNode =
  | (Span & { kind: "object"; members: HjsonMember[] })
  | (Span & { kind: "array"; items: HjsonNode[] })
  | (Span & { kind: "string"; value: string; form: "quoted" | "multiline" | "quoteless" })
  | (Span & { kind: "literal"; value: number | boolean | null });

export interface HjsonMember {
  key: string;
  value: HjsonNode;
}

export class HjsonSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${reason} at line ${line}, column ${column}`);
  }
}

const ESCAPES: Record<string, string> = { '"': '"', "'": "'", "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

function isPunctuator(c: string): boolean {
  return c === "{" || c === "}" || c === "[" || c === "]" || c === "," || c === ":";
}

/** hjson-common's tryParseNumber: the number a quoteless word stands for, or undefined. */
function tryParseNumber(text: string): number | undefined {
  let at = 0;
  let ch = "";
  const next = () => (ch = text.charAt(at++));
  // The current character, read through a call: TypeScript would otherwise keep a comparison's narrowing across next().
  const current = (): string => ch;
  let digits = "";
  let leadingZeros = 0;
  let testLeading = true;
  next();
  if (ch === "-") {
    digits = "-";
    next();
  }
  while (ch >= "0" && ch <= "9") {
    if (testLeading) {
      if (ch === "0") leadingZeros++;
      else testLeading = false;
    }
    digits += ch;
    next();
  }
  if (testLeading) leadingZeros--;
  if (ch === ".") {
    digits += ".";
    while (next() && ch >= "0" && ch <= "9") digits += ch;
  }
  if (ch === "e" || ch === "E") {
    digits += ch;
    next();
    if (current() === "-" || current() === "+") {
      digits += ch;
      next();
    }
    while (ch >= "0" && ch <= "9") {
      digits += ch;
      next();
    }
  }
  while (ch && ch <= " ") next();
  const number = +digits;
  return ch || leadingZeros || !isFinite(number) ? undefined : number;
}

/**
 * How deep objects and arrays may nest. A job config is a handful of levels deep; the reader (and the hjson
 * package that checks an edit) recurse once per level, and a few thousand levels exhaust the call stack.
 */
export const MAX_NESTING = 100;

/** Text nested deeper than the reader goes: valid HJSON perhaps, but not read. */
export class HjsonTooDeep extends HjsonSyntaxError {}

/**
 * Reads HJSON text (JSON is HJSON too). Throws HjsonSyntaxError where the hjson package throws, and HjsonTooDeep
 * where objects and arrays nest deeper than maxNesting.
 */
export function parseHjsonSpans(text: string, maxNesting: number = MAX_NESTING): HjsonNode {
  // As in hjson-parse.js: `ch` is the current character, at offset `at - 1`; "" is the end of the text.
  let at = 0;
  let ch = " ";
  let depth = 0;

  const reset = () => {
    at = 0;
    ch = " ";
    depth = 0;
  };
  const next = (): string => {
    ch = text.charAt(at);
    at++;
    return ch;
  };
  const peek = (offset: number): string => text.charAt(at + offset);
  // The current character, read through a call: TypeScript would otherwise keep a comparison's narrowing across next().
  const current = (): string => ch;
  const here = () => at - 1;

  const fail = (reason: string, kind: typeof HjsonSyntaxError = HjsonSyntaxError): never => {
    const offset = Math.max(0, Math.min(at - 1, text.length));
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - (before.lastIndexOf("\n") + 1) + 1;
    throw new kind(reason, line, column);
  };

  const white = () => {
    while (ch) {
      while (ch && ch <= " ") next();
      if (ch === "#" || (ch === "/" && peek(0) === "/")) {
        while (ch && current() !== "\n") next();
      } else if (ch === "/" && peek(0) === "*") {
        next();
        next();
        while (ch && !(current() === "*" && peek(0) === "/")) next();
        if (ch) {
          next();
          next();
        }
      } else break;
    }
  };

  const multilineString = (): string => {
    let value = "";
    let triple = 0;
    let indent = 0;
    for (;;) {
      const c = peek(-indent - 5);
      if (!c || c === "\n") break;
      indent++;
    }
    const skipIndent = () => {
      let skip = indent;
      while (ch && ch <= " " && ch !== "\n" && skip-- > 0) next();
    };
    while (ch && ch <= " " && ch !== "\n") next();
    if (ch === "\n") {
      next();
      skipIndent();
    }
    for (;;) {
      if (!ch) {
        fail("unterminated multi-line string");
      } else if (ch === "'") {
        triple++;
        next();
        if (triple === 3) {
          if (value.slice(-1) === "\n") value = value.slice(0, -1);
          return value;
        }
        continue;
      } else {
        while (triple > 0) {
          value += "'";
          triple--;
        }
      }
      if (ch === "\n") {
        value += "\n";
        next();
        skipIndent();
      } else {
        if (ch !== "\r") value += ch;
        next();
      }
    }
  };

  /** A quoted string; with allowMultiline, ''' starts a multi-line one. ch is the opening quote. */
  const quotedString = (allowMultiline: boolean): { value: string; multiline: boolean } => {
    let value = "";
    const quote = ch;
    while (next()) {
      if (ch === quote) {
        next();
        if (allowMultiline && quote === "'" && ch === "'" && value.length === 0) {
          next();
          return { value: multilineString(), multiline: true };
        }
        return { value, multiline: false };
      }
      if (ch === "\\") {
        next();
        if (current() === "u") {
          let code = 0;
          for (let i = 0; i < 4; i++) {
            next();
            const hex = /^[0-9a-fA-F]$/.test(ch) ? parseInt(ch, 16) : fail("bad \\u escape in a string");
            code = code * 16 + hex;
          }
          value += String.fromCharCode(code);
        } else if (ESCAPES[ch] !== undefined) {
          value += ESCAPES[ch];
        } else break;
      } else if (ch === "\n" || ch === "\r") {
        fail("a quoted string holds a line break");
      } else {
        value += ch;
      }
    }
    return fail("bad string (an unknown escape or no closing quote)");
  };

  const keyName = (): string => {
    if (ch === '"' || ch === "'") return quotedString(false).value;
    let name = "";
    const start = at;
    let space = -1;
    for (;;) {
      if (ch === ":") {
        if (!name) fail("found ':' but no key name");
        else if (space >= 0 && space !== name.length) {
          at = start + space;
          fail("whitespace in a key name (quote the key)");
        }
        return name;
      } else if (ch <= " ") {
        if (!ch) fail("end of input while looking for a key name");
        else if (space < 0) space = name.length;
      } else if (isPunctuator(ch)) {
        fail(`found '${ch}' where a key name was expected`);
      } else {
        name += ch;
      }
      next();
    }
  };

  /** true, false, null, a number, or a quoteless string (to the end of the line). */
  const quoteless = (): HjsonNode => {
    const start = here();
    let value = ch;
    if (isPunctuator(ch)) fail(`found '${ch}' where a value was expected`);
    for (;;) {
      next();
      const isEol = ch === "\r" || ch === "\n" || ch === "";
      if (isEol || ch === "," || ch === "}" || ch === "]" || ch === "#" || (ch === "/" && (peek(0) === "/" || peek(0) === "*"))) {
        const end = start + value.trimEnd().length;
        const word = value.trim();
        const first = value[0];
        if (first === "f" && word === "false") return { kind: "literal", value: false, start, end };
        if (first === "n" && word === "null") return { kind: "literal", value: null, start, end };
        if (first === "t" && word === "true") return { kind: "literal", value: true, start, end };
        if (first === "-" || (first >= "0" && first <= "9")) {
          const n = tryParseNumber(value);
          if (n !== undefined) return { kind: "literal", value: n, start, end };
        }
        if (isEol) return { kind: "string", form: "quoteless", value: word, start, end };
      }
      value += ch;
    }
  };

  const array = (): HjsonNode => {
    const start = here();
    const items: HjsonNode[] = [];
    next();
    white();
    if (ch === "]") {
      next();
      return { kind: "array", items, start, end: here() };
    }
    while (ch) {
      items.push(value());
      white();
      if (ch === ",") {
        next();
        white();
      }
      if (ch === "]") {
        next();
        return { kind: "array", items, start, end: here() };
      }
      white();
    }
    return fail("end of input inside an array (missing ']')");
  };

  const object = (withoutBraces: boolean): HjsonNode => {
    const start = here();
    const members: HjsonMember[] = [];
    if (!withoutBraces) next();
    white();
    if (ch === "}" && !withoutBraces) {
      next();
      return { kind: "object", members, start, end: here() };
    }
    while (ch) {
      const key = keyName();
      white();
      if (ch !== ":") fail(`expected ':' after the key`);
      next();
      const member = { key, value: value() };
      members.push(member);
      white();
      if (ch === ",") {
        next();
        white();
      }
      if (ch === "}" && !withoutBraces) {
        next();
        return { kind: "object", members, start, end: here() };
      }
      white();
    }
    // A braceless root object is the whole document.
    if (withoutBraces) return { kind: "object", members, start: 0, end: text.length };
    return fail("end of input inside an object (missing '}')");
  };

  const nested = (read: () => HjsonNode): HjsonNode => {
    if (++depth > maxNesting) fail(`nested deeper than ${maxNesting} levels`, HjsonTooDeep);
    const node = read();
    depth--;
    return node;
  };

  const value = (): HjsonNode => {
    white();
    switch (ch) {
      case "{":
        return nested(() => object(false));
      case "[":
        return nested(array);
      case "'":
      case '"': {
        const start = here();
        const { value: text, multiline } = quotedString(true);
        return { kind: "string", form: multiline ? "multiline" : "quoted", value: text, start, end: here() };
      }
      default:
        return quoteless();
    }
  };

  const checkTrailing = (node: HjsonNode): HjsonNode => {
    white();
    if (ch) fail("unexpected text after the end of the document");
    return node;
  };

  // The hjson package's default ("legacy") root: braces around the root object are optional.
  white();
  if (ch === "{") return checkTrailing(nested(() => object(false)));
  if (ch === "[") return checkTrailing(nested(array));
  try {
    return checkTrailing(object(true));
  } catch (error) {
    reset();
    try {
      return checkTrailing(value());
    } catch {
      throw error;
    }
  }
}
