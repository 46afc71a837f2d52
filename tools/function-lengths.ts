/**
 * How long the kit's functions are, measured from the TypeScript syntax tree: every function declaration and
 * expression, method, accessor, arrow function and constructor in commands/, lib/, src/ and policies/ (and
 * index.ts), from its first line (its leading comment left out) to its last, both counted. A function inside
 * another counts in both. Prints the longest first.
 *   node -r ./tools/register.js tools/function-lengths.ts [--top N] [--over LINES]
 * test/layout.test.ts holds the limit (120 lines) and the named exceptions.
 */
import * as fs from "fs";
import * as path from "path";
import ts from "typescript";

const ROOT = path.resolve(__dirname, "..");
export const MEASURED_DIRS = ["commands", "lib", "src", "policies"];

export interface FunctionLength {
  /** The file, from the repository root. */
  file: string;
  /** What the function is called: its own name, the variable, property or class member it is assigned to, or "(anonymous)". */
  name: string;
  /** Its first line, 1-based. */
  line: number;
  lines: number;
}

function nameOf(node: ts.Node, source: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(node)) {
    const owner = node.parent;
    return `${ts.isClassLike(owner) && owner.name ? owner.name.text : "(class)"} constructor`;
  }
  const own = (node as ts.FunctionLikeDeclaration).name;
  const named = own ? own.getText(source) : undefined;
  const parent = node.parent;
  const owner = ts.isClassLike(parent) && parent.name ? `${parent.name.text}.` : "";
  if (named) return `${owner}${named}`;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(source);
  return "(anonymous)";
}

const isFunction = (node: ts.Node): node is ts.FunctionLikeDeclaration =>
  ts.isFunctionDeclaration(node) ||
  ts.isFunctionExpression(node) ||
  ts.isArrowFunction(node) ||
  ts.isMethodDeclaration(node) ||
  ts.isConstructorDeclaration(node) ||
  ts.isGetAccessorDeclaration(node) ||
  ts.isSetAccessorDeclaration(node);

/** Every function of one file's text, with its length in lines. Pure. */
export function functionLengths(file: string, text: string): FunctionLength[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith(".js") ? ts.ScriptKind.JS : ts.ScriptKind.TS);
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node) => {
    if (isFunction(node) && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({ file, name: nameOf(node, source), line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** A function allowed past the limit for now, by file and name, and how long it may be at most (it may not grow). */
export interface LengthException {
  file: string;
  name: string;
  atMost: number;
}

/** The functions longer than `limit` lines that no exception covers, one line each. Pure. */
export function tooLong(found: readonly FunctionLength[], limit: number, exceptions: readonly LengthException[] = []): string[] {
  return found
    .filter((f) => f.lines > limit && !exceptions.some((e) => e.file === f.file && e.name === f.name && f.lines <= e.atMost))
    .map((f) => `${f.file}:${f.line} ${f.name} is ${f.lines} lines (at most ${limit})`);
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(rel));
    else if (/\.(ts|js)$/.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(rel);
  }
  return out;
}

/** Every function of the kit's own code (commands/, lib/, src/, policies/, index.ts), longest first. */
export function measureKit(): FunctionLength[] {
  const files = ["index.ts", ...MEASURED_DIRS.flatMap(sourceFiles)];
  return files.flatMap((file) => functionLengths(file, fs.readFileSync(path.join(ROOT, file), "utf8"))).sort((a, b) => b.lines - a.lines);
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const value = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const over = value("--over");
  const top = value("--top") ?? (over === undefined ? 20 : Infinity);
  const all = measureKit();
  const shown = all.filter((f) => over === undefined || f.lines > over).slice(0, top);
  for (const f of shown) process.stdout.write(`${String(f.lines).padStart(5)}  ${f.file}:${f.line}  ${f.name}\n`);
  process.stdout.write(`${all.length} functions measured; ${all.filter((f) => f.lines > 120).length} over 120 lines.\n`);
}
