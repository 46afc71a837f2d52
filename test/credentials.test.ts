/**
 * The credentials block: rendered from the repo's template, it must parse back, all seven values byte for
 * byte, in conforming HJSON parsers: the hjson package here, and Debian's hjson-go (hjson-cli) where installed.
 * .ci/run installs hjson-go and sets REQUIRE_HJSON_GO=1, so there the second parser is never skipped.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as Hjson from "hjson";
import { CREDENTIAL_FIELDS, CredentialValues, isPlaceholder, PLACEHOLDERS, renderCredentials } from "../src/credentials";

const hostile: CredentialValues = {
  region: "us-east-1",
  role_arn: "arn:aws:iam::123456789012:role/path/SellingPartnerAPI",
  aws_access_key_id: "AKIAIOSFODNN7EXAMPLE",
  aws_secret_access_key: '0leading/digit+plus=eq#hash|pipe:colon{brace}"quote\\backslash',
  client_id: "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef",
  client_secret: "# looks like a comment // and this too /* and this */ $& $1 $$",
  refresh_token: "Atzr|IwEB'single'\"double\"\ttab\nnewline\u2028sep ünïcödé {[]}, trailing space ",
};

const tricky: CredentialValues[] = [
  hostile,
  { ...hostile, aws_secret_access_key: "1234567890123456789012345678901234567890" }, // all digits: a number if unquoted
  { ...hostile, client_secret: "true" }, // a boolean if unquoted
  { ...hostile, client_secret: "null" },
  { ...hostile, client_secret: "'''" },
  { ...hostile, client_secret: "" },
  { ...hostile, ...PLACEHOLDERS },
];

function hjsonGo(): string | undefined {
  const found = spawnSync("hjson-cli", ["-h"], { encoding: "utf8" });
  return found.error ? undefined : "hjson-cli";
}

describe("credentials block", () => {
  it("keeps the template's comments and the connector's field order", () => {
    const text = renderCredentials(hostile, "na");
    assert.match(text, /^# Amazon Selling Partner API connector credentials/m);
    assert.match(text, /Seller Central > Apps and Services > Develop Apps/);
    const order = CREDENTIAL_FIELDS.map((f) => text.indexOf(`\n  ${f}: `));
    assert.ok(
      order.every((i) => i > 0),
      "every field is present",
    );
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
      "fields appear in the connector's order",
    );
  });

  tricky.forEach((values, i) => {
    it(`parses back byte for byte in the hjson package (case ${i + 1})`, () => {
      assert.deepEqual(Hjson.parse(renderCredentials(values, "na")), { credentials: values });
    });
  });

  it("parses back byte for byte in Debian's hjson-go (hjson-cli), a second, independent parser", function () {
    const cli = hjsonGo();
    if (!cli) {
      if (process.env.REQUIRE_HJSON_GO === "1") assert.fail("hjson-cli is required here (apt-get install hjson-go)");
      this.skip();
    }
    for (const values of tricky) {
      const json: string = execFileSync(cli!, ["-c"], { input: renderCredentials(values, "eu"), encoding: "utf8" });
      assert.deepEqual(JSON.parse(json), { credentials: values });
    }
  });

  it("recognises placeholders, and only them", () => {
    for (const p of Object.values(PLACEHOLDERS)) assert.ok(isPlaceholder(p));
    for (const v of Object.values(hostile)) assert.ok(!isPlaceholder(v), v);
  });

  it("refuses a template token it has no value for", () => {
    assert.throws(() => renderCredentials(hostile, "na", "credentials: { x: {{nope}} }"), /no value for \{\{nope\}\}/);
  });
});
