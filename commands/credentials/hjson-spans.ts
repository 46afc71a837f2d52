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
  const reader = new SpanReader(text, maxNesting);
  // The hjson package's default ("legacy") root: braces around the root object are optional.
  reader.white();
  if (reader.ch === "{") return reader.checkTrailing(reader.nested(() => reader.object(false)));
  if (reader.ch === "[") return reader.checkTrailing(reader.nested(() => reader.array()));
  try {
    return reader.checkTrailing(reader.object(true));
  } catch (error) {
    reader.reset();
    try {
      return reader.checkTrailing(reader.value());
    } catch {
      throw error;
    }
  }
}

/** The reader's state over one text, and one method per rule of hjson-parse.js. */
class SpanReader {
  // As in hjson-parse.js: `ch` is the current character, at offset `at - 1`; "" is the end of the text.
  at = 0;
  ch = " ";
  depth = 0;

  constructor(
    readonly text: string,
    readonly maxNesting: number,
  ) {}

  reset() {
    this.at = 0;
    this.ch = " ";
    this.depth = 0;
  }

  next(): string {
    this.ch = this.text.charAt(this.at);
    this.at++;
    return this.ch;
  }

  peek(offset: number): string {
    return this.text.charAt(this.at + offset);
  }

  // The current character, read through a call: TypeScript would otherwise keep a comparison's narrowing across next().
  current(): string {
    return this.ch;
  }

  here() {
    return this.at - 1;
  }

  fail(reason: string, kind: typeof HjsonSyntaxError = HjsonSyntaxError): never {
    const offset = Math.max(0, Math.min(this.at - 1, this.text.length));
    const before = this.text.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - (before.lastIndexOf("\n") + 1) + 1;
    throw new kind(reason, line, column);
  }

  white() {
    while (this.ch) {
      while (this.ch && this.ch <= " ") this.next();
      if (this.ch === "#" || (this.ch === "/" && this.peek(0) === "/")) {
        while (this.ch && this.current() !== "\n") this.next();
      } else if (this.ch === "/" && this.peek(0) === "*") {
        this.next();
        this.next();
        while (this.ch && !(this.current() === "*" && this.peek(0) === "/")) this.next();
        if (this.ch) {
          this.next();
          this.next();
        }
      } else break;
    }
  }

  private skipIndent(indent: number) {
    let skip = indent;
    while (this.ch && this.ch <= " " && this.ch !== "\n" && skip-- > 0) this.next();
  }

  multilineString(): string {
    let value = "";
    let triple = 0;
    let indent = 0;
    for (;;) {
      const c = this.peek(-indent - 5);
      if (!c || c === "\n") break;
      indent++;
    }
    while (this.ch && this.ch <= " " && this.ch !== "\n") this.next();
    if (this.ch === "\n") {
      this.next();
      this.skipIndent(indent);
    }
    for (;;) {
      if (!this.ch) {
        this.fail("unterminated multi-line string");
      } else if (this.ch === "'") {
        triple++;
        this.next();
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
      if (this.ch === "\n") {
        value += "\n";
        this.next();
        this.skipIndent(indent);
      } else {
        if (this.ch !== "\r") value += this.ch;
        this.next();
      }
    }
  }

  /** A quoted string; with allowMultiline, ''' starts a multi-line one. ch is the opening quote. */
  quotedString(allowMultiline: boolean): { value: string; multiline: boolean } {
    let value = "";
    const quote = this.ch;
    while (this.next()) {
      if (this.ch === quote) {
        this.next();
        if (allowMultiline && quote === "'" && this.ch === "'" && value.length === 0) {
          this.next();
          return { value: this.multilineString(), multiline: true };
        }
        return { value, multiline: false };
      }
      if (this.ch === "\\") {
        this.next();
        if (this.current() === "u") {
          let code = 0;
          for (let i = 0; i < 4; i++) {
            this.next();
            const hex = /^[0-9a-fA-F]$/.test(this.ch) ? parseInt(this.ch, 16) : this.fail("bad \\u escape in a string");
            code = code * 16 + hex;
          }
          value += String.fromCharCode(code);
        } else if (ESCAPES[this.ch] !== undefined) {
          value += ESCAPES[this.ch];
        } else break;
      } else if (this.ch === "\n" || this.ch === "\r") {
        this.fail("a quoted string holds a line break");
      } else {
        value += this.ch;
      }
    }
    return this.fail("bad string (an unknown escape or no closing quote)");
  }

  keyName(): string {
    if (this.ch === '"' || this.ch === "'") return this.quotedString(false).value;
    let name = "";
    const start = this.at;
    let space = -1;
    for (;;) {
      if (this.ch === ":") {
        if (!name) this.fail("found ':' but no key name");
        else if (space >= 0 && space !== name.length) {
          this.at = start + space;
          this.fail("whitespace in a key name (quote the key)");
        }
        return name;
      } else if (this.ch <= " ") {
        if (!this.ch) this.fail("end of input while looking for a key name");
        else if (space < 0) space = name.length;
      } else if (isPunctuator(this.ch)) {
        this.fail(`found '${this.ch}' where a key name was expected`);
      } else {
        name += this.ch;
      }
      this.next();
    }
  }

  /** true, false, null, a number, or a quoteless string (to the end of the line). */
  quoteless(): HjsonNode {
    const start = this.here();
    let value = this.ch;
    if (isPunctuator(this.ch)) this.fail(`found '${this.ch}' where a value was expected`);
    for (;;) {
      this.next();
      const ch = this.ch;
      const isEol = ch === "\r" || ch === "\n" || ch === "";
      if (isEol || ch === "," || ch === "}" || ch === "]" || ch === "#" || (ch === "/" && (this.peek(0) === "/" || this.peek(0) === "*"))) {
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
  }

  array(): HjsonNode {
    const start = this.here();
    const items: HjsonNode[] = [];
    this.next();
    this.white();
    if (this.ch === "]") {
      this.next();
      return { kind: "array", items, start, end: this.here() };
    }
    while (this.ch) {
      items.push(this.value());
      this.white();
      if (this.ch === ",") {
        this.next();
        this.white();
      }
      if (this.ch === "]") {
        this.next();
        return { kind: "array", items, start, end: this.here() };
      }
      this.white();
    }
    return this.fail("end of input inside an array (missing ']')");
  }

  object(withoutBraces: boolean): HjsonNode {
    const start = this.here();
    const members: HjsonMember[] = [];
    if (!withoutBraces) this.next();
    this.white();
    if (this.ch === "}" && !withoutBraces) {
      this.next();
      return { kind: "object", members, start, end: this.here() };
    }
    while (this.ch) {
      const key = this.keyName();
      this.white();
      if (this.ch !== ":") this.fail(`expected ':' after the key`);
      this.next();
      const member = { key, value: this.value() };
      members.push(member);
      this.white();
      if (this.current() === ",") {
        this.next();
        this.white();
      }
      if (this.current() === "}" && !withoutBraces) {
        this.next();
        return { kind: "object", members, start, end: this.here() };
      }
      this.white();
    }
    // A braceless root object is the whole document.
    if (withoutBraces) return { kind: "object", members, start: 0, end: this.text.length };
    return this.fail("end of input inside an object (missing '}')");
  }

  nested(read: () => HjsonNode): HjsonNode {
    if (++this.depth > this.maxNesting) this.fail(`nested deeper than ${this.maxNesting} levels`, HjsonTooDeep);
    const node = read();
    this.depth--;
    return node;
  }

  value(): HjsonNode {
    this.white();
    switch (this.ch) {
      case "{":
        return this.nested(() => this.object(false));
      case "[":
        return this.nested(() => this.array());
      case "'":
      case '"': {
        const start = this.here();
        const { value: text, multiline } = this.quotedString(true);
        return { kind: "string", form: multiline ? "multiline" : "quoted", value: text, start, end: this.here() };
      }
      default:
        return this.quoteless();
    }
  }

  checkTrailing(node: HjsonNode): HjsonNode {
    this.white();
    if (this.ch) this.fail("unexpected text after the end of the document");
    return node;
  }
}
