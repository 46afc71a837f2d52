/**
 * The layout's rules, read from the code itself: shared code (lib/) and the Pulumi program (index.ts, src/,
 * policies/) never import a command; the program never imports lib/; a command imports no other command, except
 * maintain, which composes them; no command imports test/ but demo, which runs the others (spawning, not importing
 * them) against the suite's fakes. A violation names the file and the import. And how long a function of that
 * code may be, measured from the syntax tree (tools/function-lengths.ts).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { functionLengths, measureKit, tooLong } from "../tools/function-lengths";

const ROOT = path.resolve(__dirname, "..");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(rel));
    else if (/\.(ts|js)$/.test(entry.name)) out.push(rel);
  }
  return out;
}

/** Every relative import of a file, resolved to a path from the repository root. */
export function importsOf(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*)["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]!);
  return specs.map((spec) => path.normalize(path.join(path.dirname(file), spec)));
}

/** What a file may not import, by where it lives; undefined: no rule. Pure. */
export function forbiddenFor(file: string): ((target: string) => boolean) | undefined {
  const top = file.split(path.sep)[0]!;
  if (top === "lib") return (t) => t.startsWith(`commands${path.sep}`);
  if (top === "src" || top === "policies" || file === "index.ts") return (t) => t.startsWith(`commands${path.sep}`) || t.startsWith(`lib${path.sep}`);
  if (top === "commands") {
    const command = file.split(path.sep)[1]!;
    const test = (t: string) => t.startsWith(`test${path.sep}`);
    if (command === "maintain") return test;
    // npm run demo runs the commands against the suite's fakes (test/), which ship in the repository with it.
    if (command === "demo") return (t) => t.startsWith(`commands${path.sep}`) && t.split(path.sep)[1] !== command;
    return (t) => test(t) || (t.startsWith(`commands${path.sep}`) && t.split(path.sep)[1] !== command);
  }
  return undefined;
}

describe("layout: which code may import which", () => {
  const files = ["index.ts", ...["lib", "src", "policies", "commands"].flatMap(sourceFiles)];

  it("finds the code it judges (every command folder, lib/, the program)", () => {
    const commands = new Set(files.filter((f) => f.startsWith("commands")).map((f) => f.split(path.sep)[1]));
    for (const name of ["plan", "credentials", "verify", "rotate-lwa", "rotate-key", "status", "maintain", "demo"]) assert.ok(commands.has(name), name);
    assert.ok(files.some((f) => f.startsWith("lib")) && files.some((f) => f.startsWith("src")));
  });

  it("no import runs from lib/ or the program into a command, from the program into lib/, between commands, or from a command but demo into test/", () => {
    const violations: string[] = [];
    for (const file of files) {
      const forbidden = forbiddenFor(file);
      if (!forbidden) continue;
      for (const target of importsOf(file, fs.readFileSync(path.join(ROOT, file), "utf8"))) if (forbidden(target)) violations.push(`${file} imports ${target}`);
    }
    assert.deepEqual(violations, []);
  });

  it("the rule itself catches each kind of violation", () => {
    const judge = (file: string, spec: string) => importsOf(file, `import { x } from "${spec}";`).some((t) => forbiddenFor(file)?.(t) ?? false);
    assert.equal(judge("lib/net.ts", "../commands/verify/run"), true);
    assert.equal(judge("src/program.ts", "../lib/output"), true);
    assert.equal(judge("policies/documents.ts", "../commands/plan/cli"), true);
    assert.equal(judge("commands/rotate-lwa/amazon.ts", "../verify/lwa"), true);
    assert.equal(judge("commands/rotate-lwa/amazon.ts", "../../lib/lwa"), false);
    assert.equal(judge("commands/rotate-lwa/run.ts", "./decide"), false);
    assert.equal(judge("commands/maintain/steps.ts", "../rotate-key/run"), false);
    assert.equal(judge("commands/rotate-key/run.ts", "../../test/fake-iam"), true);
    assert.equal(judge("commands/maintain/steps.ts", "../../test/fake-iam"), true);
    assert.equal(judge("commands/demo/run.ts", "../../test/fake-iam"), false);
    assert.equal(judge("commands/demo/run.ts", "../rotate-key/run"), true);
  });
});

/** How long a function of the kit's own code may be (issue 24): a reviewer reads one whole. */
const MAX_FUNCTION_LINES = 120;

describe("layout: how long a function may be", () => {
  it(`no function in commands/, lib/, src/ or policies/ is longer than ${MAX_FUNCTION_LINES} lines`, () => {
    const found = measureKit();
    assert.ok(
      found.some((f) => f.file === path.join("commands", "rotate-lwa", "run.ts") && f.name === "rotateLwa"),
      "measures rotateLwa",
    );
    assert.ok(found.length > 500, `measured only ${found.length} functions`);
    assert.deepEqual(tooLong(found, MAX_FUNCTION_LINES), []);
  });

  it("the checker catches a long function of every kind, counts lines from its first to its last, and holds an exception to its length", () => {
    const body = (lines: number) => Array.from({ length: lines - 2 }, (_, i) => `  const v${i} = ${i};`).join("\n");
    // A function of n lines: its first line, n - 2 lines of body, its closing brace.
    const kinds: Record<string, (n: number) => string> = {
      declaration: (n) => `/** comment, not counted */\nexport function long() {\n${body(n)}\n}\n`,
      arrow: (n) => `const long = () => {\n${body(n)}\n};\n`,
      expression: (n) => `const long = function () {\n${body(n)}\n};\n`,
      method: (n) => `class Long {\n  long() {\n${body(n)}\n  }\n}\n`,
      "class constructor": (n) => `class Long {\n  constructor() {\n${body(n)}\n  }\n}\n`,
    };
    for (const [kind, source] of Object.entries(kinds)) {
      const at = (n: number) => functionLengths("synthetic.ts", source(n));
      assert.equal(Math.max(...at(121).map((f) => f.lines)), 121, kind);
      assert.equal(tooLong(at(121), MAX_FUNCTION_LINES).length, 1, `${kind}: 121 lines is too long`);
      assert.deepEqual(tooLong(at(120), MAX_FUNCTION_LINES), [], `${kind}: 120 lines is allowed`);
    }
    const long = functionLengths("synthetic.ts", kinds.declaration!(130));
    assert.match(tooLong(long, MAX_FUNCTION_LINES)[0]!, /^synthetic\.ts:2 long is 130 lines/);
    assert.deepEqual(tooLong(long, MAX_FUNCTION_LINES, [{ file: "synthetic.ts", name: "long", atMost: 130 }]), []);
    assert.equal(tooLong(long, MAX_FUNCTION_LINES, [{ file: "synthetic.ts", name: "long", atMost: 129 }]).length, 1, "an exception may not grow");
    assert.equal(tooLong(long, MAX_FUNCTION_LINES, [{ file: "other.ts", name: "long", atMost: 200 }]).length, 1, "an exception names its file");
    // A function inside a long one counts on its own; the one around it is still caught.
    const nested = functionLengths("synthetic.ts", `function outer() {\n${body(80)}\n  const inner = () => {\n${body(60)}\n  };\n}\n`);
    assert.deepEqual(
      nested.map((f) => [f.name, f.lines]),
      [
        ["outer", 140],
        ["inner", 60],
      ],
    );
  });
});
