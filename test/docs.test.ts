/**
 * The docs hold together as pages: every relative link reaches a file and every `#anchor` a heading (GitHub's
 * slugs), README links every page and stays short, and no table lives in two places.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const README_MAX_LINES = 260;

/** Every Markdown page of the project, relative to the root: the four top-level files and docs/. */
function pages(root: string): string[] {
  const docs = fs.existsSync(path.join(root, "docs"))
    ? fs
        .readdirSync(path.join(root, "docs"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => `docs/${f}`)
    : [];
  return ["README.md", "CONTRIBUTING.md", "SECURITY.md", "CHANGELOG.md"].filter((f) => fs.existsSync(path.join(root, f))).concat(docs.sort());
}

/** The page's lines with fenced code blocks blanked, so that neither a `# comment` nor a `[x](y)` in code counts. */
function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split("\n").map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker) {
      fence = marker;
      return "";
    }
    if (fence !== undefined) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = undefined;
      return "";
    }
    return line;
  });
}

/** Inline code spans removed: a link or a heading's markup inside backticks is text, not markup. */
function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)[\s\S]*?\1/g, (span) => " ".repeat(span.length));
}

/**
 * GitHub's anchor for a heading: its text as rendered (code spans unwrapped, links reduced to their text, emphasis
 * dropped), lower-cased, every character but letters, digits, spaces, hyphens and underscores removed, spaces made
 * hyphens. A repeated slug gets -1, -2, ... in order.
 */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/`([^`]*)`/g, "$1")
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/(\*\*|__|\*)(.+?)\1/g, "$2");
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const line of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (!heading) continue;
    const slug = githubSlug(heading[1]!);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    result.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return result;
}

/** Link targets of a page, with their line numbers: inline links and images, and reference definitions. */
function links(markdown: string): { target: string; line: number }[] {
  const found: { target: string; line: number }[] = [];
  proseLines(markdown).forEach((raw, i) => {
    const line = withoutCodeSpans(raw);
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) found.push({ target: m[1]!, line: i + 1 });
    const definition = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(line);
    if (definition) found.push({ target: definition[1]!, line: i + 1 });
  });
  return found;
}

/** What is wrong with a page's links: a relative target that is not a file, an anchor that is no heading there. */
function linkProblems(root: string, page: string): string[] {
  const problems: string[] = [];
  for (const { target, line } of links(fs.readFileSync(path.join(root, page), "utf8"))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ...: not ours to check offline
    const [file, anchor] = target.split("#", 2) as [string, string | undefined];
    const resolved = file === "" ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), decodeURIComponent(file)));
    const where = `${page}:${line}: ${target}`;
    if (resolved.startsWith("../") || !fs.existsSync(path.join(root, resolved))) {
      problems.push(`${where}: no file ${resolved}`);
      continue;
    }
    if (anchor === undefined) continue;
    if (!resolved.endsWith(".md")) problems.push(`${where}: an anchor into a file that is not Markdown`);
    else if (!anchors(fs.readFileSync(path.join(root, resolved), "utf8")).has(decodeURIComponent(anchor)))
      problems.push(`${where}: ${resolved} has no heading #${anchor}`);
  }
  return problems;
}

/** The page's tables, each as its normalised rows (cells trimmed, spaces collapsed, the |---| line left out). */
function tables(markdown: string): string[][] {
  const result: string[][] = [];
  let current: string[] | undefined;
  for (const line of proseLines(markdown)) {
    if (/^\s*\|/.test(line)) {
      const cells = line
        .trim()
        .replace(/^\||\|$/g, "")
        .split(/(?<!\\)\|/)
        .map((c) => c.trim().replace(/\s+/g, " "));
      if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
      (current ??= []).push(cells.join(" | "));
    } else if (current) {
      result.push(current);
      current = undefined;
    }
  }
  if (current) result.push(current);
  return result;
}

/** Tables, and rows below a header, that two pages share: each "page A and page B: what". */
function repeatedTables(root: string, files: string[]): string[] {
  const tableAt = new Map<string, string>();
  const rowAt = new Map<string, string>();
  const repeats: string[] = [];
  for (const page of files) {
    for (const table of tables(fs.readFileSync(path.join(root, page), "utf8"))) {
      const key = table.join("\n");
      const other = tableAt.get(key);
      if (other !== undefined && other !== page) repeats.push(`${other} and ${page}: the table headed "${table[0]}"`);
      else tableAt.set(key, page);
      for (const row of table.slice(1)) {
        const rowOther = rowAt.get(row);
        if (rowOther !== undefined && rowOther !== page) repeats.push(`${rowOther} and ${page}: the row "${row}"`);
        else rowAt.set(row, page);
      }
    }
  }
  return repeats;
}

describe("docs", () => {
  const files = pages(ROOT);
  const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");

  describe("the checks themselves", () => {
    it("make GitHub's anchors: code spans unwrapped, punctuation dropped, repeats numbered", () => {
      assert.equal(githubSlug("Reviewing the change offline: `npm run plan`"), "reviewing-the-change-offline-npm-run-plan");
      assert.equal(githubSlug("What it creates, and why"), "what-it-creates-and-why");
      assert.equal(githubSlug("Key secret never in state (PGP)"), "key-secret-never-in-state-pgp");
      assert.equal(githubSlug("`npm run status`: every customer at a glance"), "npm-run-status-every-customer-at-a-glance");
      assert.equal(githubSlug("[0.2.0] - 2026-12-01"), "020---2026-12-01");
      assert.equal(githubSlug("Where each secret lives, and **why**"), "where-each-secret-lives-and-why");
      assert.deepEqual([...anchors("# A\n## A\n```sh\n# A\n```\n### A #\n")], ["a", "a-1", "a-2"]);
    });

    it("find a missing file, a missing anchor and an anchor in a repeated heading, and skip code and URLs", () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "docs-test-"));
      try {
        fs.mkdirSync(path.join(root, "docs"));
        fs.writeFileSync(path.join(root, "docs/a.md"), "# A\n\n## Run it\n\n## Run it\n");
        fs.writeFileSync(
          path.join(root, "README.md"),
          [
            "# R",
            "[ok](docs/a.md#run-it) [ok too](docs/a.md#run-it-1) [self](#r) [web](https://example.com/x#y)",
            "[gone](docs/b.md) [no heading](docs/a.md#run) [third](docs/a.md#run-it-2) [out](../x.md)",
            "`[in code](nowhere.md)`",
            "```md",
            "[in a block](nowhere.md)",
            "```",
            "[ref]: docs/missing.md",
          ].join("\n"),
        );
        assert.deepEqual(linkProblems(root, "README.md"), [
          "README.md:3: docs/b.md: no file docs/b.md",
          "README.md:3: docs/a.md#run: docs/a.md has no heading #run",
          "README.md:3: docs/a.md#run-it-2: docs/a.md has no heading #run-it-2",
          "README.md:3: ../x.md: no file ../x.md",
          "README.md:8: docs/missing.md: no file docs/missing.md",
        ]);
        assert.deepEqual(linkProblems(root, "docs/a.md"), []);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });

    it("find a table, or one of its rows, kept in two pages however its cells are spaced", () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "docs-test-"));
      try {
        fs.writeFileSync(path.join(root, "a.md"), "| k | v |\n|---|---|\n| `x` | one |\n| `y` | two \\| three |\n\n| h |\n|---|\n| only here |\n");
        fs.writeFileSync(path.join(root, "b.md"), "text\n\n   |  k |   v  |\n   | :-- | --: |\n   | `x` |  one |\n   | `y` | two \\| three |\n");
        fs.writeFileSync(path.join(root, "c.md"), "| other | header |\n|---|---|\n| `x` | one |\n\n```\n| k | v |\n| `y` | two \\| three |\n```\n");
        assert.deepEqual(repeatedTables(root, ["a.md", "b.md"]), [
          'a.md and b.md: the table headed "k | v"',
          'a.md and b.md: the row "`x` | one"',
          'a.md and b.md: the row "`y` | two \\| three"',
        ]);
        assert.deepEqual(repeatedTables(root, ["a.md", "c.md"]), ['a.md and c.md: the row "`x` | one"']);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  });

  it("the project's pages are README, CONTRIBUTING, SECURITY, CHANGELOG and the topic pages under docs/", () => {
    for (const page of ["README.md", "CONTRIBUTING.md", "SECURITY.md", "CHANGELOG.md"]) assert.ok(files.includes(page), `${page} is missing`);
    const topics = files.filter((f) => f.startsWith("docs/"));
    for (const page of ["review", "reference", "verify", "delivery", "key-rotation", "lwa-rotation", "fleet"]) {
      assert.ok(topics.includes(`docs/${page}.md`), `docs/${page}.md is missing`);
    }
  });

  it("every relative link reaches a file, and every #anchor a heading of the page it names", () => {
    const problems = files.flatMap((page) => linkProblems(ROOT, page));
    assert.deepEqual(problems, [], `broken links:\n${problems.join("\n")}`);
    // The check saw the links: a page with none would pass it vacuously.
    for (const page of files) assert.ok(links(read(page)).length > 0, `${page} links nowhere`);
  });

  it("README links every other page, and stays a first read", () => {
    const targets = new Set(links(read("README.md")).map(({ target }) => path.posix.normalize(target.split("#")[0]!)));
    const missing = files.filter((f) => f !== "README.md" && !targets.has(f));
    assert.deepEqual(missing, [], `README does not link ${missing.join(", ")}`);
    const lines = read("README.md").replace(/\n$/, "").split("\n").length;
    assert.ok(lines <= README_MAX_LINES, `README has ${lines} lines (at most ${README_MAX_LINES})`);
  });

  it("every page has exactly one title", () => {
    for (const page of files) {
      const titles = proseLines(read(page)).filter((l) => /^# /.test(l));
      assert.equal(titles.length, 1, `${page}: ${titles.length} "# " titles`);
    }
  });

  it("CHANGELOG keeps Keep a Changelog's form, and its newest release is package.json's version", () => {
    const headings = proseLines(read("CHANGELOG.md")).filter((l) => /^#{2,3} /.test(l));
    assert.equal(headings[0], "## [Unreleased]");
    const releases = headings.filter((h) => h.startsWith("## [") && h !== "## [Unreleased]");
    assert.ok(releases.length > 0, "no release");
    const versions = releases.map((h) => {
      const m = /^## \[(\d+)\.(\d+)\.(\d+)\] - (\d{4}-\d{2}-\d{2})$/.exec(h);
      assert.ok(m, `a release heading is "## [x.y.z] - YYYY-MM-DD": ${h}`);
      assert.equal(new Date(`${m[4]}T00:00:00Z`).toISOString().slice(0, 10), m[4], `not a calendar date: ${h}`);
      return { version: `${m[1]}.${m[2]}.${m[3]}`, key: [Number(m[1]), Number(m[2]), Number(m[3])], date: m[4]! };
    });
    for (let i = 1; i < versions.length; i++) {
      const [newer, older] = [versions[i - 1]!, versions[i]!];
      const cmp = newer.key.findIndex((n, j) => n !== older.key[j]);
      assert.ok(cmp >= 0 && newer.key[cmp]! > older.key[cmp]!, `${newer.version} is listed above ${older.version}: newest first`);
      assert.ok(newer.date >= older.date, `${newer.version} is dated before ${older.version}`);
    }
    assert.equal(versions[0]!.version, JSON.parse(read("package.json")).version, "package.json's version is not the newest release");
    const kinds = new Set(["Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"]);
    for (const h of headings.filter((h) => h.startsWith("### "))) assert.ok(kinds.has(h.slice(4)), `not a Keep a Changelog section: ${h}`);
  });

  it("no table, and no row of one, is kept in two pages", () => {
    const repeats = repeatedTables(ROOT, files);
    assert.deepEqual(repeats, [], repeats.join("\n"));
    // The check saw the tables it guards: the config and output references, the phase table.
    assert.ok(tables(read("docs/reference.md")).length >= 2);
    assert.ok(tables(read("docs/key-rotation.md")).length >= 1);
  });

  it("say what round 3's door changed (issue 22): the 7-day rule in fleet.md, npm --prefix, npm ci's one line but up", () => {
    assert.match(read("docs/fleet.md"), /lists no `jobConfigs` \(a person\s+hands the block to its jobs\) is due only 7 days before it expires/);
    assert.match(read("docs/reference.md"), /`npm --prefix <kit> run <command> -- <flags>`/);
    assert.match(read("README.md"), /until then every npm run but up says "run npm ci first"/);
    const quickStart = read("README.md").split("## Quick start")[1]!.split("\n## ")[0]!;
    assert.match(quickStart, /`npm run demo`/);
    assert.match(quickStart, /`npm run doctor`/);
  });
});
