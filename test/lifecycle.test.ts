/**
 * Credential lifecycle: the key-slot rules as a table, a rotation through generations 1 to 4 of the real
 * program (each run fed the outputs of the one before, as the stack reference does), key age and LWA expiry.
 */
import assert from "node:assert/strict";
import * as Hjson from "hjson";
import { accessKeyAgeWarning, accessKeyRotateBy, lwaSecretStatus, planAccessKeys, RotationError, slotOf, slotRecord, SlotRecord } from "../src/lifecycle";
import { ENCRYPTED_SECRET_PLACEHOLDER } from "../src/credentials";
import * as pulumi from "@pulumi/pulumi";
import { SellingPartnerApiAccess } from "../src/component";
import { fakeAccessKeyId, isSecret, runOffline, value } from "./offline-run";

/** The day the pure rules are planned on (the program itself uses the real date). */
const TODAY = "2026-11-27";

describe("key slots: the pure rules", () => {
  it("odd generations live in slot a, even ones in slot b", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 100].map(slotOf), ["a", "b", "a", "b", "a", "b"]);
  });

  const table: { generation: number; previous: "active" | "inactive" | "removed"; slots: string[] }[] = [
    { generation: 1, previous: "active", slots: ["a:1:current:Active"] },
    { generation: 1, previous: "inactive", slots: ["a:1:current:Active"] },
    { generation: 2, previous: "active", slots: ["b:2:current:Active", "a:1:previous:Active"] },
    { generation: 2, previous: "inactive", slots: ["b:2:current:Active", "a:1:previous:Inactive"] },
    { generation: 2, previous: "removed", slots: ["b:2:current:Active"] },
    { generation: 3, previous: "active", slots: ["a:3:current:Active", "b:2:previous:Active"] },
    { generation: 4, previous: "inactive", slots: ["b:4:current:Active", "a:3:previous:Inactive"] },
    { generation: 7, previous: "removed", slots: ["a:7:current:Active"] },
  ];
  for (const row of table) {
    it(`generation ${row.generation}, previous ${row.previous}: ${row.slots.join(", ")}`, () => {
      const plan = planAccessKeys({ today: TODAY, generation: row.generation, previousKey: row.previous });
      assert.deepEqual(
        plan.slots.map((s) => `${s.slot}:${s.generation}:${s.role}:${s.status}`),
        row.slots,
      );
      assert.ok(plan.slots.length <= 2);
    });
  }

  const deployedAt = (generation: number): SlotRecord[] => planAccessKeys({ today: TODAY, generation, previousKey: "active" }).slots;

  it("refuses a jump of more than one: it would replace the slot holding the key jobs use", () => {
    assert.throws(
      () => planAccessKeys({ today: TODAY, generation: 3, previousKey: "active", deployed: deployedAt(1) }),
      (err: Error) => err instanceof RotationError && /deployed generation is 1/.test(err.message) && /accessKeyGeneration 2/.test(err.message),
    );
  });

  it("refuses going back a generation", () => {
    assert.throws(() => planAccessKeys({ today: TODAY, generation: 2, previousKey: "active", deployed: deployedAt(3) }), RotationError);
  });

  it("refuses a rotation that would deactivate or delete the key jobs use now", () => {
    for (const previousKey of ["inactive", "removed"] as const) {
      assert.throws(
        () => planAccessKeys({ today: TODAY, generation: 4, previousKey, deployed: deployedAt(3) }),
        (err: Error) => err instanceof RotationError && /npm run pulumi -- config set previousAccessKey active/.test(err.message),
      );
    }
  });

  it("allows staying and bumping by one", () => {
    assert.doesNotThrow(() => planAccessKeys({ today: TODAY, generation: 3, previousKey: "active", deployed: deployedAt(3) }));
    assert.doesNotThrow(() => planAccessKeys({ today: TODAY, generation: 4, previousKey: "active", deployed: deployedAt(3) }));
  });

  it("a live key keeps the PGP key it was made with; a new one takes the configured key", () => {
    const deployed = planAccessKeys({ today: TODAY, generation: 1, previousKey: "active" }).slots;
    const same = planAccessKeys({ today: TODAY, generation: 1, previousKey: "active", pgpKey: "keybase:alice", deployed });
    assert.equal(same.slots[0]!.pgpKey, undefined, "changing pgpKey must not replace the live key");
    assert.match(same.warnings.join(), /applies to the next key/);
    const rotated = planAccessKeys({ today: TODAY, generation: 2, previousKey: "active", pgpKey: "keybase:alice", deployed });
    assert.deepEqual(
      rotated.slots.map((s) => [s.slot, s.pgpKey]),
      [
        ["b", "keybase:alice"],
        ["a", undefined],
      ],
    );
  });
});

describe("rotation through the real program, generations 1 to 4", () => {
  // What AWS holds: key ids per slot and generation. Each run is one `pulumi up`.
  const issued = (slot: string, generation: number) => fakeAccessKeyId(`${slot}-${generation}`);

  async function deploy(generation: number, previousAccessKey: string, lastSlots?: unknown) {
    const run = await runOffline({ accessKeyGeneration: String(generation), previousAccessKey }, [], {
      keyFor: (slot) => ({ id: issued(slot, generation), secret: `secret-${slot}-${generation}`, createDate: new Date().toISOString() }),
      lastOutputs: lastSlots ? { accessKeySlots: lastSlots } : {},
    });
    assert.equal(run.error, undefined, run.error?.message);
    return run;
  }

  it("keeps at most two keys, puts the newest in credentials, and replaces only the older slot", async () => {
    const sequence: [number, string][] = [
      [1, "active"],
      [2, "active"],
      [2, "inactive"],
      [3, "active"],
      [3, "removed"],
      [4, "active"],
      [4, "inactive"],
    ];
    let last: unknown;
    let lastTriggers = new Map<string, string>();
    for (const [generation, previous] of sequence) {
      const run = await deploy(generation, previous, last);
      const keys = run.cloud.resources.filter((r) => r.type === "aws:iam/accessKey:AccessKey");
      assert.ok(keys.length <= 2, `generation ${generation}: ${keys.length} keys`);
      const slots = run.outputs!.accessKeySlots!;
      const current = slots.find((s) => s.generation === generation)!;
      assert.equal(current.status, "Active");
      const block = Hjson.parse(await value(run.outputs!.credentials)).credentials;
      assert.equal(block.aws_access_key_id, issued(current.slot, generation), "credentials carry the newest key");
      assert.equal(await value(run.outputs!.accessKeyId), issued(current.slot, generation));
      const previousSlot = slots.find((s) => s.generation === generation - 1);
      if (generation === 1 || previous === "removed") assert.equal(previousSlot, undefined);
      else assert.equal(previousSlot!.status, previous === "active" ? "Active" : "Inactive");

      // The slot holding the key jobs used before this run keeps its generation, so it is not replaced.
      const triggers = new Map<string, string>(slots.map((s) => [s.slot, String(s.generation)]));
      for (const [slot, trigger] of lastTriggers) {
        if (triggers.has(slot) && triggers.get(slot) !== trigger) {
          assert.notEqual(Number(trigger), generation - 1, `slot ${slot} held the working key and was replaced`);
        }
      }
      lastTriggers = triggers;
      last = slots;
    }
  });

  it("each key slot is replaced delete-before-create, triggered by its own generation only", async () => {
    await runOffline({}); // a fresh mock runtime for the probe below
    const seen: { name: string; opts: pulumi.CustomResourceOptions }[] = [];
    // A transformation sees every child's final resource options, which the mocks themselves ignore.
    new SellingPartnerApiAccess(
      "opts-probe",
      { spApiRegion: "na", accessKeyGeneration: 4, previousAccessKey: "inactive" },
      {
        transformations: [
          (args) => {
            if (args.type === "aws:iam/accessKey:AccessKey") seen.push({ name: args.name, opts: args.opts });
            return undefined;
          },
        ],
      },
    );
    assert.deepEqual(seen.map((s) => [s.name, s.opts.deleteBeforeReplace, s.opts.replacementTrigger]).sort(), [
      ["opts-probe-key-a", true, "3"],
      ["opts-probe-key-b", true, "4"],
    ]);
  });

  it("a stale working copy (the committed generation 1) after rotations to generation 3 deploys 3 and replaces no key", async () => {
    // Each command's write: stateRevision one past the deployed one; each `up` exports the state it used.
    let lastOutputs: Record<string, unknown> = {};
    let slots: SlotRecord[] = [];
    for (const [generation, previous, revision] of [
      [1, "active", "0"],
      [2, "active", "1"],
      [3, "active", "2"],
    ] as const) {
      const run = await runOffline({ accessKeyGeneration: String(generation), previousAccessKey: previous, stateRevision: revision }, [], {
        keyFor: (slot) => ({ id: issued(slot, generation), secret: `secret-${slot}-${generation}`, createDate: new Date().toISOString() }),
        lastOutputs,
      });
      assert.equal(run.error, undefined, run.error?.message);
      slots = run.outputs!.accessKeySlots!;
      lastOutputs = { accessKeySlots: slots, operationalState: run.outputs!.operationalState };
    }
    const clone = await runOffline({ accessKeyGeneration: "1", previousAccessKey: "active" }, [], { lastOutputs });
    assert.equal(clone.error, undefined, clone.error?.message);
    assert.deepEqual(clone.outputs!.accessKeySlots, slots, "the same slots and generations: nothing replaced, nothing rolled back");
    assert.ok(clone.warnings.some((w) => /accessKeyGeneration/.test(w) && /older than the last deployment's/.test(w)));
  });

  it("stops, before anything is declared, when the generation jumps past the deployed one", async () => {
    const first = await deploy(1, "active");
    const run = await runOffline({ accessKeyGeneration: "3" }, [], { lastOutputs: { accessKeySlots: first.outputs!.accessKeySlots } });
    assert.match(run.error!.message, /deployed generation is 1/);
    assert.deepEqual(
      run.cloud.resources.map((r) => r.type),
      ["pulumi:pulumi:StackReference"],
      "only the read of the last outputs may precede the refusal",
    );
  });
});

describe("inactiveSince: when the old key was deactivated", () => {
  const at = (generation: number, previousKey: "active" | "inactive" | "removed", today: string, deployed?: SlotRecord[]) =>
    planAccessKeys({ generation, previousKey, today, deployed }).slots.map(slotRecord);
  const since = (records: SlotRecord[]) => Object.fromEntries(records.map((r) => [`${r.slot}:${r.generation}`, r.inactiveSince ?? null]));

  it("is set on the first deployment where a slot is Inactive, then carried while it stays so", () => {
    const handover = at(3, "active", "2026-11-01", at(2, "removed", "2026-10-01"));
    assert.deepEqual(since(handover), { "a:3": null, "b:2": null });
    const deactivated = at(3, "inactive", "2026-11-05", handover);
    assert.deepEqual(since(deactivated), { "a:3": null, "b:2": "2026-11-05" });
    const later = at(3, "inactive", "2026-11-20", deactivated);
    assert.deepEqual(since(later), { "a:3": null, "b:2": "2026-11-05" }, "carried, not restamped");
  });

  it("is dropped when the slot is Active again, and starts afresh if it is deactivated again", () => {
    const deactivated = at(3, "inactive", "2026-11-05", at(3, "active", "2026-11-01"));
    const reactivated = at(3, "active", "2026-11-06", deactivated);
    assert.deepEqual(since(reactivated), { "a:3": null, "b:2": null });
    assert.deepEqual(since(at(3, "inactive", "2026-11-09", reactivated)), { "a:3": null, "b:2": "2026-11-09" });
  });

  it("is dropped when the slot is replaced or removed; the new key in it is Active", () => {
    const deactivated = at(3, "inactive", "2026-11-05", at(3, "active", "2026-11-01"));
    const rotated = at(4, "active", "2027-01-20", deactivated);
    assert.deepEqual(since(rotated), { "b:4": null, "a:3": null });
    assert.deepEqual(since(at(3, "removed", "2026-11-13", deactivated)), { "a:3": null });
  });

  it("a record from before inactiveSince existed counts from today: deletion is delayed, never hastened", () => {
    const legacy: SlotRecord[] = [
      { slot: "a", generation: 3, status: "Active", pgpKey: null },
      { slot: "b", generation: 2, status: "Inactive", pgpKey: null },
    ];
    assert.deepEqual(since(at(3, "inactive", "2026-11-27", legacy)), { "a:3": null, "b:2": "2026-11-27" });
  });

  it("the program records it in accessKeySlots, carrying it from the last deployment's outputs", async () => {
    const day = () => new Date().toISOString().slice(0, 10);
    const deploy = async (previousAccessKey: string, lastSlots: unknown) => {
      const run = await runOffline({ accessKeyGeneration: "3", previousAccessKey }, [], { lastOutputs: { accessKeySlots: lastSlots } });
      assert.equal(run.error, undefined, run.error?.message);
      return run.outputs!.accessKeySlots!;
    };
    const handover = [
      { slot: "a", generation: 3, status: "Active", pgpKey: null },
      { slot: "b", generation: 2, status: "Active", pgpKey: null },
    ];
    const before = day();
    const first = await deploy("inactive", handover);
    const after = day();
    const stamped = first.find((s) => s.slot === "b")!.inactiveSince;
    assert.ok(stamped === before || stamped === after, `stamped ${stamped}, today is ${before}`);
    assert.equal(first.find((s) => s.slot === "a")!.inactiveSince, undefined);

    const recorded = first.map((s) => (s.slot === "b" ? { ...s, inactiveSince: "2026-01-02" } : s));
    const carried = await deploy("inactive", recorded);
    assert.equal(carried.find((s) => s.slot === "b")!.inactiveSince, "2026-01-02");

    const reactivated = await deploy("active", recorded);
    assert.deepEqual(
      reactivated.map((s) => s.inactiveSince),
      [undefined, undefined],
    );
    const removed = await deploy("removed", recorded);
    assert.deepEqual(
      removed.map((s) => [s.slot, s.inactiveSince]),
      [["a", undefined]],
    );
  });
});

/** What a stack at generation 3 recorded, with the previous key in the given state. */
function deployedAt3(previousKey: "active" | "inactive" | "removed"): SlotRecord[] {
  return planAccessKeys({ today: TODAY, generation: 3, previousKey }).slots;
}

describe("key age", () => {
  it("the rotation date is creation + maxAccessKeyAgeDays", () => {
    assert.equal(accessKeyRotateBy("2026-01-01T10:00:00Z", 90), "2026-04-01");
    assert.equal(accessKeyRotateBy("2024-02-28T00:00:00Z", 2), "2024-03-01");
  });

  it("warns for a key past its date, naming the date and the command; not for a young key", () => {
    const today = new Date("2026-11-26T12:00:00Z");
    const old = accessKeyAgeWarning("2026-08-01T00:00:00Z", 90, 3, "active", today);
    assert.match(old!, /2026-10-30/);
    assert.match(old!, /Rotate it: npm run pulumi -- config set accessKeyGeneration 4 && npm run pulumi -- up$/);
    assert.equal(accessKeyAgeWarning("2026-11-01T00:00:00Z", 90, 3, "active", today), undefined);
    assert.equal(accessKeyAgeWarning("2026-08-28T00:00:00Z", 90, 3, "active", today), undefined, "due today is not past due");
  });

  it("the warning's command is one the rotation guard accepts, whatever previousAccessKey says now", () => {
    const today = new Date("2026-11-26T12:00:00Z");
    for (const previousKey of ["active", "inactive", "removed"] as const) {
      const warning = accessKeyAgeWarning("2026-08-01T00:00:00Z", 90, 3, previousKey, today)!;
      const command = /Rotate it: (.*)$/.exec(warning)![1]!;
      // Apply the command's config changes to the deployed state, as the shell would, then plan.
      const next = { generation: 3, previousKey: previousKey as "active" | "inactive" | "removed" };
      for (const [, key, value] of command.matchAll(/pulumi -- config set (\w+) (\w+)/g)) {
        if (key === "accessKeyGeneration") next.generation = Number(value);
        if (key === "previousAccessKey") next.previousKey = value as typeof next.previousKey;
      }
      assert.equal(next.generation, 4, command);
      assert.doesNotThrow(() => planAccessKeys({ today: TODAY, ...next, deployed: deployedAt3(previousKey) }), command);
    }
  });

  it("the program warns at up/preview for an old key, and exports both dates", async () => {
    const created = new Date(Date.now() - 120 * 86_400_000).toISOString();
    const run = await runOffline({}, [], { keyFor: () => ({ id: fakeAccessKeyId("old"), secret: "s", createDate: created }) });
    assert.equal(await value(run.outputs!.accessKeyCreatedAt), created);
    assert.equal(await value(run.outputs!.accessKeyRotateBy), accessKeyRotateBy(created, 90));
    assert.ok(
      run.warnings.some((w) => w.includes("was due for rotation") && w.includes("accessKeyGeneration 2")),
      run.warnings.join("\n"),
    );

    const young = await runOffline({}, [], { keyFor: () => ({ id: fakeAccessKeyId("new"), secret: "s", createDate: new Date().toISOString() }) });
    assert.ok(!young.warnings.some((w) => w.includes("due for rotation")));
  });
});

describe("the LWA client secret's 180 days", () => {
  const today = new Date("2026-11-26T08:00:00Z");
  it("expires 180 days after issue; no warning outside the window", () => {
    const status = lwaSecretStatus("2026-09-01", 30, today);
    assert.equal(status.expiresOn, "2027-02-28");
    assert.equal(status.warning, undefined);
  });

  it("warns inside the window with the date and the rotation steps", () => {
    const status = lwaSecretStatus("2026-06-15", 30, today); // expires 2026-12-12, in 16 days
    assert.equal(status.expiresOn, "2026-12-12");
    assert.match(status.warning!, /expires on 2026-12-12 \(in 16 days\)/);
    assert.match(status.warning!, /Rotate secret/);
    assert.match(status.warning!, /7 days/);
    assert.doesNotMatch(status.warning!, /pulumi config set/, "the command stores it (issue 20)");
    assert.match(status.warning!, /npm run rotate-lwa -- --stored-by-hand \(paste the new secret at the prompt/);
    assert.match(status.warning!, /pulumi up/);
  });

  it("with lwaRotation, names npm run rotate-lwa instead of the console route", () => {
    const status = lwaSecretStatus("2026-06-15", 30, today, true);
    assert.match(status.warning!, /expires on 2026-12-12 \(in 16 days\)\. Rotate it: npm run rotate-lwa/);
    assert.doesNotMatch(status.warning!, /Seller Central/);
  });

  it("says expired after the date", () => {
    const status = lwaSecretStatus("2026-01-01", 30, today);
    assert.match(status.warning!, /expired on 2026-06-30/);
  });

  it("the program exports the expiry and warns within the window", async () => {
    const issued = new Date(Date.now() - 170 * 86_400_000).toISOString().slice(0, 10);
    const run = await runOffline({ lwaClientSecretIssuedOn: issued });
    assert.equal(run.outputs!.lwaClientSecretExpiresOn, lwaSecretStatus(issued, 30, new Date()).expiresOn);
    assert.ok(
      run.warnings.some((w) => w.includes("LWA client secret")),
      run.warnings.join("\n"),
    );
    const fresh = await runOffline({ lwaClientSecretIssuedOn: new Date().toISOString().slice(0, 10) });
    assert.ok(!fresh.warnings.some((w) => w.includes("LWA client secret")));
  });
});

describe("PGP: the key secret never in state", () => {
  const PGP = "mQENBF" + "A".repeat(200) + "==";
  const SECRET = "plaintext/secret+never=shown0123456789ab";

  it("credentials carry a placeholder; the ciphertext is a secret output; no output holds the plaintext", async () => {
    const run = await runOffline({ pgpKey: PGP }, [], {
      keyFor: () => ({ id: fakeAccessKeyId("pgp"), secret: SECRET, createDate: new Date().toISOString() }),
    });
    assert.equal(run.error, undefined, run.error?.message);
    const key = run.cloud.resources.find((r) => r.type === "aws:iam/accessKey:AccessKey")!;
    assert.equal(key.inputs.pgpKey, PGP);
    const block = Hjson.parse(await value(run.outputs!.credentials)).credentials;
    assert.equal(block.aws_secret_access_key, ENCRYPTED_SECRET_PLACEHOLDER);
    assert.equal(await isSecret(run.outputs!.encryptedSecretAccessKey), true);
    assert.match(await value(run.outputs!.encryptedSecretAccessKey), /encrypted/);
    for (const [name, output] of Object.entries(run.outputs!)) {
      const shown = output && typeof output === "object" && "apply" in output ? await value(output as any) : output;
      assert.ok(!JSON.stringify(shown).includes(SECRET), `${name} holds the plaintext secret`);
    }
  });

  it("a malformed pgpKey is refused before anything is declared", async () => {
    const run = await runOffline({ pgpKey: "not a key" });
    assert.match(run.error!.message, /pgpKey/);
    // Only the read of the last deployment's state precedes the refusal.
    assert.deepEqual(
      run.cloud.resources.map((r) => r.type),
      ["pulumi:pulumi:StackReference"],
    );
  });
});
