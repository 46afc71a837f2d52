/**
 * The layout's one rule, read from the code itself: shared code (lib/) and the Pulumi program (index.ts, src/,
 * policies/) never import a command; the program never imports lib/; a command imports no other command, except
 * maintain, which composes them. A violation names the file and the import.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

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
    if (command === "maintain") return undefined;
    return (t) => t.startsWith(`commands${path.sep}`) && t.split(path.sep)[1] !== command;
  }
  return undefined;
}

describe("layout: which code may import which", () => {
  const files = ["index.ts", ...["lib", "src", "policies", "commands"].flatMap(sourceFiles)];

  it("finds the code it judges (every command folder, lib/, the program)", () => {
    const commands = new Set(files.filter((f) => f.startsWith("commands")).map((f) => f.split(path.sep)[1]));
    for (const name of ["plan", "credentials", "verify", "rotate-lwa", "rotate-key", "status", "maintain"]) assert.ok(commands.has(name), name);
    assert.ok(files.some((f) => f.startsWith("lib")) && files.some((f) => f.startsWith("src")));
  });

  it("no import runs from lib/ or the program into a command, from the program into lib/, or between commands", () => {
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
  });
});
