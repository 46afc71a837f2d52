/**
 * Secret files and git: .gitignore covers every file README's examples write, and a command that writes a secret
 * file inside a git work tree that does not ignore it says so (lib/files gitExposureWarning).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { gitExposureWarning } from "../lib/files";
import { FakePulumi } from "./fake-pulumi";
import { runThroughNpm } from "./through-npm";

const ROOT = path.resolve(__dirname, "..");
const git = (cwd: string, ...args: string[]) => spawnSync("git", args, { cwd, encoding: "utf8" });

/** The files README's (and docs/'s) example commands write, relative to where they run: `--out <file>`, the file a
 * plain `npm run credentials` is given, their defaults, and maintain's blocks. Absolute paths and $VARS are the
 * user's own places, outside the clone. */
function exampleOutputFiles(): string[] {
  const docs = [path.join(ROOT, "README.md")];
  const docsDir = path.join(ROOT, "docs");
  if (fs.existsSync(docsDir)) for (const f of fs.readdirSync(docsDir)) if (f.endsWith(".md")) docs.push(path.join(docsDir, f));
  const files = new Set(["credentials.hjson", "credentials/acme-eu.hjson"]);
  for (const doc of docs) {
    for (const line of fs.readFileSync(doc, "utf8").split("\n")) {
      const command = line.replace(/#.*$/, "").replace(/`/g, " ");
      const words = command.split(/\s+/).filter(Boolean);
      for (let i = 0; i < words.length; i++) if (words[i] === "--out" && words[i + 1]) files.add(words[i + 1]!);
      const at = words.indexOf("credentials");
      if (words[at - 1] === "run" && !words.includes("--into") && !words.includes("--check")) {
        for (const word of words.slice(at + 1)) if (/\.(h?json)$/.test(word) && words[words.indexOf(word) - 1] !== "--stack") files.add(word);
      }
    }
  }
  return [...files].filter((f) => /^[\w-][\w./-]*\.h?json$/.test(f));
}

describe("secret files and git", () => {
  it(".gitignore covers every file README's examples write (acme-eu.hjson, acme.json, ...) and the temporary files of their writes", () => {
    const files = exampleOutputFiles();
    for (const expected of ["credentials.hjson", "acme-eu.hjson", "acme.json"])
      assert.ok(files.includes(expected), `found in README: ${expected} (${files.join(", ")})`);
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), "gitignore-"));
    try {
      git(repo, "init", "-q");
      fs.copyFileSync(path.join(ROOT, ".gitignore"), path.join(repo, ".gitignore"));
      for (const file of [...files, ...files.map((f) => path.join(path.dirname(f), `.${path.basename(f)}.sp-api-iam.1234.abcd1234.tmp`))]) {
        assert.equal(git(repo, "check-ignore", "-q", "--no-index", file).status, 0, `${file} is not git-ignored`);
      }
      // The project's own files, the block templates the code reads among them (a template the patterns caught would be
      // missing from every clone).
      const templates = fs.readdirSync(path.join(ROOT, "src")).filter((f) => f.endsWith(".template.hjson"));
      assert.ok(templates.length >= 2, templates.join(", "));
      for (const kept of ["package.json", "tsconfig.json", "commands/credentials/cli.ts", ...templates.map((t) => `src/${t}`)]) {
        assert.equal(git(repo, "check-ignore", "-q", "--no-index", kept).status, 1, `${kept} must not be ignored`);
      }
    } finally {
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });

  describe("the warning", () => {
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "git-exposure-"))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("inside a work tree that does not ignore the file: a warning naming it; ignored, or not a work tree: none", () => {
      const file = path.join(dir, "sub", "block.hjson");
      fs.mkdirSync(path.dirname(file));
      fs.writeFileSync(file, "x");
      assert.equal(gitExposureWarning(file), undefined, "not a work tree");
      git(dir, "init", "-q");
      assert.match(
        gitExposureWarning(file, "sub/block.hjson") ?? "",
        /^Warning: sub\/block\.hjson holds secrets and is inside a git work tree that does not ignore it/,
      );
      fs.writeFileSync(path.join(dir, ".gitignore"), "*.hjson\n");
      assert.equal(gitExposureWarning(file), undefined, "ignored");
    });

    it("no git installed: no warning, no failure", () => {
      git(dir, "init", "-q");
      const file = path.join(dir, "block.hjson");
      fs.writeFileSync(file, "x");
      const saved = process.env.PATH;
      process.env.PATH = fs.mkdtempSync(path.join(os.tmpdir(), "empty-path-"));
      try {
        assert.equal(gitExposureWarning(file), undefined);
      } finally {
        fs.rmSync(process.env.PATH, { recursive: true, force: true });
        process.env.PATH = saved;
      }
    });

    it("through the user's door: npm run credentials -- <file> warns in a work tree that does not ignore the file, not once it is ignored", async function () {
      this.timeout(60000);
      const cli = FakePulumi.create();
      try {
        cli.addStack("acme", { selected: true });
        git(dir, "init", "-q");
        const first = await runThroughNpm("credentials", ["acme.hjson"], { cwd: dir, env: cli.env() });
        assert.equal(first.code, 0, first.stderr);
        assert.ok(fs.existsSync(path.join(dir, "acme.hjson")));
        assert.match(first.stderr, /Warning: acme\.hjson holds secrets and is inside a git work tree that does not ignore it/);
        fs.writeFileSync(path.join(dir, ".gitignore"), "acme.hjson\n");
        const second = await runThroughNpm("credentials", ["acme.hjson"], { cwd: dir, env: cli.env() });
        assert.equal(second.code, 0, second.stderr);
        assert.doesNotMatch(second.stderr, /Warning/);
      } finally {
        cli.cleanup();
      }
    });
  });
});
