/**
 * The project's own files agree with the program: Pulumi.yaml declares every key the program reads, the
 * example stacks pass validation with no secret in plain text, docs/reference.md documents every key and output, and
 * index.ts hands Pulumi the program.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { CONFIG_KEYS, validateConfig } from "../src/config";
import { readStackFile } from "../commands/plan/stack-file";
import { runProgram } from "../src/program";

const ROOT = path.resolve(__dirname, "..");
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");
const OUTPUTS = [
  "connectorAuth",
  "roleArn",
  "userArn",
  "userName",
  "accessKeyId",
  "accessKeyCreatedAt",
  "accessKeyRotateBy",
  "accessKeySlots",
  "accessKeyIds",
  "credentials",
  "authorizationCredentials",
  "authorizations",
  "encryptedSecretAccessKey",
  "lwaClientSecretExpiresOn",
  "lwaNotificationQueueArn",
  "lwaNotificationQueueUrl",
  "adoptionDeployed",
  "operationalState",
  "operationalSecrets",
];

describe("project files", () => {
  const project = yaml.load(read("Pulumi.yaml")) as { name: string; config: Record<string, any> };

  it("Pulumi.yaml names the project sp-api-iam and declares every key with a type, a default and a description", () => {
    assert.equal(project.name, "sp-api-iam");
    // tags and authorizations are maps, which Pulumi's project schema cannot type: Pulumi.yaml explains them in a comment instead.
    const declarable = Object.keys(CONFIG_KEYS).filter((k) => k !== "tags" && k !== "authorizations");
    assert.deepEqual(Object.keys(project.config).sort(), declarable.sort());
    for (const [key, decl] of Object.entries(project.config)) {
      assert.ok(["string", "integer", "boolean", "array"].includes(decl.type), `${key}: type`);
      assert.ok(typeof decl.description === "string" && decl.description.length > 20, `${key}: description`);
      // The CLI refuses to run a stack lacking a declared key that has no default, so every key has one;
      // and it would refuse a secret key's empty default, so no key is flagged secret there.
      assert.notEqual(decl.default, undefined, `${key}: default`);
      assert.equal(decl.secret, undefined, `${key}: secret flag`);
      if (CONFIG_KEYS[key]!.optional) assert.equal(decl.default, "", `${key}: an optional key defaults to "" (unset)`);
    }
    assert.match(read("Pulumi.yaml"), /# tags: a map/);
    assert.match(read("Pulumi.yaml"), /# authorizations: a map/);
  });

  it("Pulumi.yaml defaults, as the CLI hands them to the program, are the program's defaults", () => {
    // The CLI passes each default as a string; arrays as JSON. Secret keys' "" arrives not secret.
    const values = Object.fromEntries(
      Object.entries(project.config).map(([k, d]) => [k, typeof d.default === "string" ? d.default : JSON.stringify(d.default)]),
    );
    const withDefaults = validateConfig({ values, secretKeys: new Set() }).config;
    assert.deepEqual(withDefaults, validateConfig({ values: {}, secretKeys: new Set() }).config);
  });

  for (const file of ["Pulumi.dev.yaml", "examples/Pulumi.acme-eu.yaml", "examples/Pulumi.acme-fe.yaml", "examples/Pulumi.acme-lwa.yaml"]) {
    it(`${file} is a valid stack with no secret in plain text`, () => {
      const { values } = readStackFile(path.join(ROOT, file));
      assert.doesNotThrow(() => validateConfig({ values, secretKeys: new Set() }));
      for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
        if (spec.secret) assert.equal(values[key], undefined, `${key} in plain text`);
      }
    });
  }

  it("docs/reference.md documents every config key and every output", () => {
    const reference = read("docs/reference.md");
    for (const key of Object.keys(CONFIG_KEYS)) assert.match(reference, new RegExp(`\\| \`${key}\` \\|`), `config ${key}`);
    for (const output of OUTPUTS) assert.match(reference, new RegExp(`\\| \`${output}\` \\|`), `output ${output}`);
  });

  for (const doc of ["README.md", "CONTRIBUTING.md"]) {
    it(`${doc}'s test command is the one .ci/run runs`, () => {
      // The commands of the Development section's first shell block, each with its comment.
      const development = read(doc)
        .split(/^## Development and tests$/m)[1]!
        .split(/^## /m)[0]!;
      const docBlock = /```sh\n([\s\S]*?)```/.exec(development)![1]!;
      const commands = new Map(
        docBlock
          .split("\n")
          .filter((l) => l.trim())
          .map((l) => [l.split("#")[0]!.trim(), l.includes("#") ? l.slice(l.indexOf("#") + 1).trim() : ""] as [string, string]),
      );
      // .ci/run: the npm commands it runs, in order, without npm's reporting flags or its note of a failure.
      const ci = read(".ci/run")
        .split("\n")
        .filter((l) => /^npm /.test(l))
        .map((l) =>
          l
            .replace(/ --no-(audit|fund)/g, "")
            .replace(/ \|\| status=1$/, "")
            .trim(),
        );
      assert.deepEqual(ci, ["npm ci", "npm test", "npm run test:e2e"]);
      // `npm cit` is npm's own shorthand for npm ci, then npm test; the doc names both suites CI runs.
      assert.ok(commands.has("npm cit"), `${doc} gives the one-command form`);
      for (const command of ci.slice(1)) assert.ok(commands.has(command), `${doc} gives CI's test command ${command}`);
      // What the doc says `npm test` runs is what package.json's test script (tools/test.sh) runs, tool by tool.
      const scripts = JSON.parse(read("package.json")).scripts;
      assert.equal(scripts.test, "bash tools/test.sh");
      assert.equal(scripts["test:e2e"], "MOCHA_SUITE=e2e bash tools/test.sh");
      // (the end-to-end suite leaves tools/test.sh before the checks: the steps of npm test follow that branch)
      const testSh = read("tools/test.sh");
      const fast = testSh.slice(testSh.indexOf("\nfi\n", testSh.indexOf('"$MOCHA_SUITE" = e2e')));
      // (each tool once: ESLint runs twice, cached and uncached, as tools/test.sh says why)
      const steps = [...new Set([...fast.matchAll(/"\$bin\/(\w+)"/g)].map((m) => m[1]))];
      const described = commands
        .get("npm test")!
        .split("+")
        .map((part) => part.trim().split(" ")[0]);
      assert.deepEqual(described, steps, `${doc}: npm test # ${commands.get("npm test")}`);
    });
  }

  it("ships under Apache-2.0: the licence text, package.json and README agree", () => {
    const licence = read("LICENSE");
    assert.match(licence, /^\s+Apache License\n\s+Version 2\.0, January 2004\n/);
    assert.match(licence, /END OF TERMS AND CONDITIONS/);
    assert.equal(JSON.parse(read("package.json")).license, "Apache-2.0");
    assert.match(read("README.md"), /^## Licence\n\nApache-2\.0 \(\[LICENSE\]\(LICENSE\)\)/m);
  });

  it("every runtime dependency is used by the shipped code, and the AGPL IAM evaluator is a dev dependency only", () => {
    const pkg = JSON.parse(read("package.json"));
    assert.equal(pkg.dependencies["@cloud-copilot/iam-simulate"], undefined);
    assert.ok(pkg.devDependencies["@cloud-copilot/iam-simulate"]);
    const shipped: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
        const rel = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(rel);
        else if (/\.(ts|js)$/.test(entry.name)) shipped.push(read(rel));
      }
    };
    for (const dir of ["src", "policies", "commands", "lib", "tools"]) if (fs.existsSync(path.join(ROOT, dir))) walk(dir);
    shipped.push(read("index.ts"));
    const code = shipped.join("\n");
    for (const dep of Object.keys(pkg.dependencies)) {
      // A provider package nothing imports still makes every `pulumi up` install and start its plugin.
      assert.ok(code.includes(`from "${dep}"`) || code.includes(`from "${dep}/`) || code.includes(`require("${dep}")`), `${dep} is declared but unused`);
    }
  });

  it("docs/review.md and the component say a user added to the group by hand goes at `pulumi up --refresh`, not at a plain `pulumi up`", () => {
    // A plain `pulumi up` diffs the config against its state, which never saw the hand-added user.
    const row = read("docs/review.md")
      .split("\n")
      .find((l) => l.startsWith("| `sp-api-membership` |"))!;
    const comment = read("src/component.ts")
      .split("\n")
      .find((l) => /Exclusive membership/.test(l))!;
    for (const text of [row, comment]) {
      assert.match(text, /by hand is removed .*`pulumi up --refresh`/, text);
      assert.doesNotMatch(text, /at the next `pulumi up`/, text);
    }
  });

  it("index.ts hands Pulumi the program itself", async () => {
    const entry = await import("../index");
    assert.equal((entry as { default?: unknown }).default ?? entry, runProgram);
  });

  it("index.ts loads the way pulumi up loads it: ts-node, transpile-only as tsconfig's noCheck asks, handing over a function", async () => {
    // The suite itself runs on the faster sucrase transpile (tools/register.js); this is the one check of
    // the path Pulumi's Node.js host takes (see tools/bench.ts, loadLikePulumiUp).
    const loaded = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ["-e", 'require("ts-node").register({ transpileOnly: true, project: "tsconfig.json" }); process.stdout.write(typeof require("./index.ts"));'],
        { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, out }));
    });
    assert.equal(loaded.code, 0, loaded.out);
    assert.equal(loaded.out, "function");
  });
});
