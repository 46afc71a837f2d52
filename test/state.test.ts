/**
 * The operational state's one rule (src/state.ts): which of the working copy and the last deployment is newest,
 * what a stale working copy is told, and the compare-and-set of the commands' `up`.
 */
import assert from "node:assert/strict";
import { deployedStateFrom, type DeployedState, OPERATIONAL_KEYS, operationalOutputs, resolveState, STATE_CONFLICT_MARK, type WorkingCopy } from "../src/state";
import { CONFIG_KEYS } from "../src/config";

const OLD_SECRET = "amzn1.oa2-cs.v1.1111";
const NEW_SECRET = "amzn1.oa2-cs.v1.2222";

/** A working copy as a fresh clone of a committed Pulumi.<stack>.yaml holds it, changed by `change`. */
function workingCopy(values: Record<string, string>, secretKeys: string[] = []): WorkingCopy {
  return { values: { spApiRegion: "eu", roleName: "Mine", ...values }, secretKeys: new Set(secretKeys) };
}

/** What the last deployment exported at revision `revision`. */
function deployed(revision: number, values: Record<string, string>, secrets: Record<string, string> = {}, readable = true): DeployedState {
  return deployedStateFrom({ revision, values, secretKeys: Object.keys(secrets) }, readable ? secrets : "[secret]")!;
}

const resolved = (r: ReturnType<typeof resolveState>) => {
  assert.equal(r.kind, "resolved", r.kind === "conflict" ? r.message : "");
  return r as Extract<ReturnType<typeof resolveState>, { kind: "resolved" }>;
};

describe("operational state: the newest wins", () => {
  const D3 = deployed(3, { accessKeyGeneration: "2", lwaClientSecretIssuedAt: "2026-12-01T10:00:00Z" }, { lwaClientSecret: NEW_SECRET });

  it("no deployed state yet (a stack from before this feature): the working copy, as today, revision L", () => {
    const r = resolved(resolveState({ local: workingCopy({ accessKeyGeneration: "1", lwaClientSecret: OLD_SECRET }, ["lwaClientSecret"]) }));
    assert.equal(r.source, "first");
    assert.equal(r.revision, 0);
    assert.equal(r.values.accessKeyGeneration, "1");
    assert.equal(r.values.lwaClientSecret, OLD_SECRET);
    assert.deepEqual(r.warnings, []);
  });

  it("L > D: the working copy carries a command's write not yet deployed: it is deployed, revision L", () => {
    const local = workingCopy({ stateRevision: "4", accessKeyGeneration: "3", lwaClientSecret: NEW_SECRET }, ["lwaClientSecret"]);
    const r = resolved(resolveState({ local, deployed: D3 }));
    assert.equal(r.source, "local");
    assert.equal(r.revision, 4);
    assert.equal(r.values.accessKeyGeneration, "3");
    assert.equal(r.values.lwaClientSecretIssuedAt, undefined, "a key the command removed stays removed");
    assert.deepEqual(r.warnings, []);
  });

  it("L == D, nothing changed: the working copy (the same values), no warning", () => {
    const local = workingCopy({ stateRevision: "3", accessKeyGeneration: "2", lwaClientSecretIssuedAt: "2026-12-01T10:00:00Z", lwaClientSecret: NEW_SECRET }, [
      "lwaClientSecret",
    ]);
    const r = resolved(resolveState({ local, deployed: D3 }));
    assert.equal(r.revision, 3);
    assert.deepEqual(r.changed, []);
    assert.deepEqual(r.warnings, []);
  });

  it("L == D with a person's deliberate change of an operational key: the change is deployed", () => {
    const local = workingCopy({ stateRevision: "3", accessKeyGeneration: "2", lwaClientSecret: NEW_SECRET, previousAccessKey: "inactive" }, [
      "lwaClientSecret",
    ]);
    const r = resolved(resolveState({ local, deployed: D3 }));
    assert.equal(r.source, "local");
    assert.equal(r.values.previousAccessKey, "inactive");
    assert.equal(r.values.lwaClientSecretIssuedAt, undefined, "removed by hand: stays removed");
    assert.deepEqual(r.changed.sort(), ["lwaClientSecretIssuedAt", "previousAccessKey"]);
    assert.deepEqual(r.warnings, []);
  });

  it("L < D (a fresh clone): the deployed operational values win, the person's own keys are kept, stale keys named, never their values", () => {
    const local = workingCopy(
      {
        accessKeyGeneration: "1",
        lwaClientSecretIssuedAt: "2026-06-01T10:00:00Z",
        lwaRotationRequestedAt: "2026-06-01T09:00:00Z",
        lwaClientSecret: OLD_SECRET,
        roleName: "Changed",
      },
      ["lwaClientSecret"],
    );
    const r = resolved(resolveState({ local, deployed: D3 }));
    assert.equal(r.source, "deployed");
    assert.equal(r.revision, 3);
    assert.equal(r.values.stateRevision, "3");
    assert.equal(r.values.accessKeyGeneration, "2");
    assert.equal(r.values.lwaClientSecretIssuedAt, "2026-12-01T10:00:00Z");
    assert.equal(r.values.lwaRotationRequestedAt, undefined, "a record the deployment no longer holds is dropped");
    assert.equal(r.values.lwaClientSecret, NEW_SECRET);
    assert.ok(r.secretKeys.has("lwaClientSecret"));
    assert.equal(r.values.roleName, "Changed", "the person's own setting is kept");
    assert.equal(r.values.spApiRegion, "eu");
    assert.deepEqual(r.ignored.sort(), ["accessKeyGeneration", "lwaClientSecret", "lwaClientSecretIssuedAt", "lwaRotationRequestedAt"]);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /stateRevision 0\) is older than the last deployment's \(3\)/);
    for (const key of r.ignored) assert.match(r.warnings[0]!, new RegExp(key));
    for (const v of [OLD_SECRET, NEW_SECRET, "2026-06-01", "2026-12-01"]) assert.ok(!r.warnings[0]!.includes(v), `the warning shows ${v}`);
  });

  it("L < D with the working copy holding nothing operational: the deployed values, and no warning (nothing was ignored)", () => {
    const r = resolved(resolveState({ local: workingCopy({}), deployed: D3 }));
    assert.equal(r.values.accessKeyGeneration, "2");
    assert.equal(r.values.lwaClientSecret, NEW_SECRET);
    assert.deepEqual(r.warnings, []);
  });

  it("L < D read without decryption: a deployed secret is known to be set, its value is not invented", () => {
    const masked = deployed(3, { accessKeyGeneration: "2" }, { lwaClientSecret: NEW_SECRET }, false);
    const r = resolved(resolveState({ local: { values: { accessKeyGeneration: "1" }, secretKeys: new Set(["lwaClientSecret"]) }, deployed: masked }));
    assert.equal(r.values.lwaClientSecret, undefined);
    assert.ok(r.secretKeys.has("lwaClientSecret"));
    assert.deepEqual(r.unreadableSecrets, ["lwaClientSecret"]);
    assert.equal(r.values.accessKeyGeneration, "2");
  });

  it("an unreadable stateRevision counts as 0: the deployed state wins", () => {
    const r = resolved(resolveState({ local: workingCopy({ stateRevision: "three", accessKeyGeneration: "1" }), deployed: D3 }));
    assert.equal(r.values.accessKeyGeneration, "2");
  });
});

describe("operational state: the compare-and-set of the commands' up", () => {
  const D3 = deployed(3, { accessKeyGeneration: "2" });

  it("the base the command read is still the deployed revision: resolved as usual", () => {
    const r = resolved(resolveState({ local: workingCopy({ stateRevision: "4", accessKeyGeneration: "3" }), deployed: D3, expectedBase: 3 }));
    assert.equal(r.revision, 4);
  });

  it("another run deployed since (base 3, deployed 4): refused, naming the fix", () => {
    const D4 = deployed(4, { accessKeyGeneration: "3" });
    const r = resolveState({ local: workingCopy({ stateRevision: "4", accessKeyGeneration: "3" }), deployed: D4, expectedBase: 3 });
    assert.equal(r.kind, "conflict");
    const message = (r as { message: string }).message;
    assert.match(message, new RegExp(STATE_CONFLICT_MARK.replace(/'/g, ".")));
    assert.match(message, /revision 4; this run started from 3/);
    assert.match(message, /nothing was changed/);
    assert.match(message, /Fix: run the command again/);
  });

  it("no deployed state counts as revision 0 for the base", () => {
    assert.equal(resolveState({ local: workingCopy({ stateRevision: "1" }), expectedBase: 0 }).kind, "resolved");
    assert.equal(resolveState({ local: workingCopy({ stateRevision: "1" }), expectedBase: 2 }).kind, "conflict");
  });
});

describe("operational state: the two outputs", () => {
  it("plain keys in operationalState, secret keys (and any key set as a secret) only in operationalSecrets", () => {
    const values = { accessKeyGeneration: "2", lwaClientSecret: NEW_SECRET, lwaRotationSetAsideSecret: OLD_SECRET, adoption: "{}", roleName: "Mine" };
    const out = operationalOutputs(values, new Set(["lwaClientSecret", "adoption"]), 5);
    assert.deepEqual(out.state, {
      revision: 5,
      values: { accessKeyGeneration: "2" },
      secretKeys: ["adoption", "lwaClientSecret", "lwaRotationSetAsideSecret"],
    });
    assert.deepEqual(out.secrets, { lwaClientSecret: NEW_SECRET, lwaRotationSetAsideSecret: OLD_SECRET, adoption: "{}" });
    assert.ok(!JSON.stringify(out.state).includes(NEW_SECRET));
  });

  it("what one deployment exports, the next reads back as the same state (JSON text or object, secrets masked or not)", () => {
    const values = { accessKeyGeneration: "2", lwaClientSecret: NEW_SECRET, iamKeysUnusedAt: "2026-12-01T00:00:00Z" };
    const out = operationalOutputs(values, new Set(["lwaClientSecret"]), 7);
    const back = deployedStateFrom(JSON.stringify(out.state), JSON.stringify(out.secrets))!;
    assert.deepEqual(back, {
      revision: 7,
      values: { accessKeyGeneration: "2", iamKeysUnusedAt: "2026-12-01T00:00:00Z" },
      secretKeys: ["lwaClientSecret"],
      secrets: { lwaClientSecret: NEW_SECRET },
    });
    assert.equal(deployedStateFrom(out.state, "[secret]")!.secrets, undefined);
    assert.equal(deployedStateFrom(undefined, undefined), undefined);
    assert.equal(deployedStateFrom({ revision: -1, values: {} }, {}), undefined);
  });

  it("every operational key is a config key of the program, and stateRevision too", () => {
    for (const key of [...OPERATIONAL_KEYS, "stateRevision"]) assert.ok(key in CONFIG_KEYS, key);
  });

  it("any sequence of deployments and stale working copies never goes back to an older deployed value (property, 300 cases)", () => {
    // A tiny deterministic generator: a run either writes (L = D + 1, a new generation) from an up-to-date copy, or
    // deploys from a working copy of some earlier revision (a stale clone): the deployed generation never decreases.
    let seed = 12345;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let c = 0; c < 300; c++) {
      let d: DeployedState | undefined;
      const copies: WorkingCopy[] = [workingCopy({ accessKeyGeneration: "1" })];
      let highest = 1;
      for (let step = 0; step < 12; step++) {
        const copy = copies[next(copies.length)]!;
        const r = resolved(resolveState({ local: copy, deployed: d }));
        let values = r.values;
        if (next(2) === 0) {
          values = { ...values, accessKeyGeneration: String(Number(values.accessKeyGeneration ?? "1") + 1), stateRevision: String((d?.revision ?? 0) + 1) };
        }
        const again = resolved(resolveState({ local: { values, secretKeys: r.secretKeys }, deployed: d }));
        const out = operationalOutputs(again.values, again.secretKeys, again.revision);
        d = deployedStateFrom(out.state, out.secrets);
        const generation = Number(d!.values.accessKeyGeneration);
        assert.ok(generation >= highest, `case ${c}, step ${step}: generation ${generation} after ${highest}`);
        highest = generation;
        copies.push({ values, secretKeys: r.secretKeys });
      }
    }
  });
});
