/**
 * `npm run rotate-key`: the pure decision over the phase table, interrupted runs, and the cross-check of
 * IAM's keys against the stack's records.
 */
import assert from "node:assert/strict";
import { decide, type DecideInput, type IamKey, type RotationConfig } from "../ops/rotate-key/decide";
import type { SlotRecord } from "../src/lifecycle";

const NOW = new Date("2026-11-27T06:00:00Z");
const CONFIG: RotationConfig = {
  accessKeyGeneration: 3,
  previousAccessKey: "active",
  maxAccessKeyAgeDays: 90,
  keyRotationLeadDays: 14,
  keyQuietHours: 48,
  keyInactiveDays: 7,
};
const NEW_ID = "AKIANEWKEY3GENERATIO";
const OLD_ID = "AKIAOLDKEY2GENERATIO";
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z");
const daysAgo = (d: number) => hoursAgo(24 * d);

const used = (h: number) => ({ lastUsedDate: hoursAgo(h), lastUsedService: "sts", lastUsedRegion: "us-east-1" });
const newKey = (extra: Partial<IamKey> = {}): IamKey => ({ id: NEW_ID, status: "Active", createDate: daysAgo(3), ...extra });
const oldKey = (extra: Partial<IamKey> = {}): IamKey => ({ id: OLD_ID, status: "Active", createDate: daysAgo(80), ...extra });

const steadySlots: SlotRecord[] = [{ slot: "a", generation: 3, status: "Active", pgpKey: null }];
const handoverSlots: SlotRecord[] = [
  { slot: "a", generation: 3, status: "Active", pgpKey: null },
  { slot: "b", generation: 2, status: "Active", pgpKey: null },
];
const inactiveSlots = (since: string): SlotRecord[] => [
  { slot: "a", generation: 3, status: "Active", pgpKey: null },
  { slot: "b", generation: 2, status: "Inactive", pgpKey: null, inactiveSince: since },
];

function run(overrides: Omit<Partial<DecideInput>, "config"> & { config?: Partial<RotationConfig> }) {
  return decide({
    now: NOW,
    ifDue: true,
    deployed: { slots: handoverSlots, accessKeyId: NEW_ID },
    iam: [newKey(), oldKey()],
    ...overrides,
    config: { ...CONFIG, ...overrides.config },
  });
}

describe("rotate-key: the decision (pure)", () => {
  describe("steady: one key", () => {
    const steady = (createdDaysAgo: number, ifDue = true) =>
      run({
        ifDue,
        config: { previousAccessKey: "removed" },
        deployed: { slots: steadySlots, accessKeyId: NEW_ID },
        iam: [newKey({ createDate: daysAgo(createdDaysAgo), ...used(2) })],
      });

    it("starts when the key is older than maxAccessKeyAgeDays minus keyRotationLeadDays", () => {
      const d = steady(76);
      assert.equal(d.phase, "steady");
      assert.equal(d.step, "start");
      assert.deepEqual(d.changes, [
        { key: "previousAccessKey", value: "active" },
        { key: "accessKeyGeneration", value: "4" },
      ]);
      assert.match(d.reason, /keyRotationLeadDays \(14\)/);
    });

    it("does nothing before then with --if-due, and names the day it starts", () => {
      const d = steady(75);
      assert.equal(d.step, "none");
      assert.equal(d.nextDate, "2026-11-28");
      assert.match(d.reason, /not due/);
      assert.deepEqual(d.changes, []);
    });

    it("starts whatever the age without --if-due", () => {
      const d = steady(1, false);
      assert.equal(d.step, "start");
      assert.match(d.reason, /no --if-due/);
    });

    it("generation 1 with previousAccessKey at its default needs only the bump", () => {
      const d = run({
        config: { accessKeyGeneration: 1 },
        deployed: { slots: [{ slot: "a", generation: 1, status: "Active", pgpKey: null }], accessKeyId: NEW_ID },
        iam: [newKey({ createDate: daysAgo(100) })],
      });
      assert.deepEqual(d.changes, [{ key: "accessKeyGeneration", value: "2" }]);
    });
  });

  describe("handover: two active keys", () => {
    it("deactivates when the new key has been used and the old one not for keyQuietHours", () => {
      const d = run({ iam: [newKey(used(1)), oldKey(used(49))] });
      assert.equal(d.phase, "handover");
      assert.equal(d.step, "deactivate");
      assert.deepEqual(d.changes, [{ key: "previousAccessKey", value: "inactive" }]);
      assert.match(d.reason, /AKIA…ATIO/);
      assert.ok(!d.reason.includes(OLD_ID), "key ids are masked");
    });

    it("an old key IAM never saw used counts as quiet", () => {
      assert.equal(run({ iam: [newKey(used(1)), oldKey()] }).step, "deactivate");
    });

    it("waits while the old key was used within keyQuietHours, saying when, by which service and region", () => {
      const d = run({ iam: [newKey(used(1)), oldKey({ lastUsedDate: hoursAgo(47), lastUsedService: "sts", lastUsedRegion: "eu-west-1" })] });
      assert.equal(d.step, "none");
      assert.match(d.reason, new RegExp(`last used ${hoursAgo(47)} by sts in eu-west-1`));
      assert.match(d.reason, /a job still has the old block/);
      assert.equal(d.nextDate, new Date(Date.parse(hoursAgo(47)) + 48 * 3_600_000).toISOString());
    });

    it("waits while the new key has never been used: no job has the new block yet", () => {
      const d = run({ iam: [newKey(), oldKey(used(100))] });
      assert.equal(d.step, "none");
      assert.match(d.reason, /no job has the new block yet/);
      assert.match(d.reason, /npm run credentials/);
    });

    it("keyQuietHours comes from config", () => {
      assert.equal(run({ config: { keyQuietHours: 24 }, iam: [newKey(used(1)), oldKey(used(25))] }).step, "deactivate");
      assert.equal(run({ config: { keyQuietHours: 72 }, iam: [newKey(used(1)), oldKey(used(70))] }).step, "none");
    });
  });

  describe("old key inactive", () => {
    const inactive = (since: string, newUse: Partial<IamKey>, config: Partial<RotationConfig> = {}) =>
      run({
        config: { previousAccessKey: "inactive", ...config },
        deployed: { slots: inactiveSlots(since), accessKeyId: NEW_ID },
        iam: [newKey(newUse), oldKey({ status: "Inactive", ...used(200) })],
      });

    it("deletes after keyInactiveDays when the new key is still in use", () => {
      const d = inactive("2026-11-20", used(3));
      assert.equal(d.phase, "old-key-inactive");
      assert.equal(d.step, "delete");
      assert.deepEqual(d.changes, [{ key: "previousAccessKey", value: "removed" }]);
    });

    it("does nothing while inactive for less, and names the day it is deleted", () => {
      const d = inactive("2026-11-21", used(3));
      assert.equal(d.step, "none");
      assert.equal(d.nextDate, "2026-11-28");
    });

    it("does not delete when the new key has not been used since the old one was deactivated", () => {
      const d = inactive("2026-11-10", { lastUsedDate: "2026-11-09T10:00:00Z", lastUsedService: "sts", lastUsedRegion: "us-east-1" });
      assert.equal(d.step, "none");
      assert.match(d.reason, /has not been used since then/);
    });

    it("keyInactiveDays comes from config", () => {
      assert.equal(inactive("2026-11-26", used(3), { keyInactiveDays: 1 }).step, "delete");
    });

    it("a record without inactiveSince waits for the next pulumi up to record it", () => {
      const slots = inactiveSlots("x").map(({ inactiveSince: _, ...s }) => s);
      const d = run({
        config: { previousAccessKey: "inactive" },
        deployed: { slots, accessKeyId: NEW_ID },
        iam: [newKey(used(1)), oldKey({ status: "Inactive" })],
      });
      assert.equal(d.step, "none");
      assert.match(d.reason, /no inactiveSince/);
    });
  });

  it("removed: steady, nothing until the key is due", () => {
    const d = run({ config: { previousAccessKey: "removed" }, deployed: { slots: steadySlots, accessKeyId: NEW_ID }, iam: [newKey(used(1))] });
    assert.equal(d.phase, "steady");
    assert.equal(d.step, "none");
  });

  describe("IAM against the stack", () => {
    it("refuses a key IAM lists that the stack did not make (one made by hand)", () => {
      const d = run({
        config: { previousAccessKey: "removed" },
        deployed: { slots: steadySlots, accessKeyId: NEW_ID },
        iam: [newKey({ createDate: daysAgo(100) }), oldKey({ id: "AKIAHANDMADEKEY00001", createDate: daysAgo(1) })],
      });
      assert.equal(d.refused, true);
      assert.equal(d.step, "none");
      assert.match(d.reason, /did not make: AKIA…0001/);
      assert.match(d.reason, /made by hand/);
    });

    it("refuses when the stack's key is missing from IAM, or a recorded old key is gone", () => {
      assert.match(run({ iam: [oldKey()] }).reason, /does not list the stack's key/);
      assert.match(run({ iam: [newKey(used(1))] }).reason, /IAM lists none/);
    });

    it("refuses when IAM's status disagrees with the deployment", () => {
      const d = run({ iam: [newKey(used(1)), oldKey({ status: "Inactive" })] });
      assert.equal(d.refused, true);
      assert.match(d.reason, /as Inactive, the stack deployed it Active/);
    });

    it("refuses a stack with no accessKeySlots output", () => {
      assert.equal(run({ deployed: {} }).refused, true);
    });
  });

  describe("an interrupted run: config set, not deployed", () => {
    it("a half-set start (previousAccessKey only) is finished: the bump is set, not repeated", () => {
      const d = run({ config: { previousAccessKey: "active" }, deployed: { slots: steadySlots, accessKeyId: NEW_ID }, iam: [newKey()] });
      assert.equal(d.step, "start");
      assert.equal(d.resumed, true);
      assert.deepEqual(d.changes, [{ key: "accessKeyGeneration", value: "4" }]);
    });

    it("a fully set start is finished with up alone, even when not due (someone asked for it)", () => {
      const d = run({
        config: { accessKeyGeneration: 4, previousAccessKey: "active" },
        deployed: { slots: steadySlots, accessKeyId: NEW_ID },
        iam: [newKey()],
      });
      assert.equal(d.step, "start");
      assert.equal(d.resumed, true);
      assert.deepEqual(d.changes, [], "generation deployed + 1 is not bumped again");
    });

    it("a set deactivation the evidence still supports is finished with up alone", () => {
      const d = run({ config: { previousAccessKey: "inactive" }, iam: [newKey(used(1)), oldKey(used(50))] });
      assert.equal(d.step, "deactivate");
      assert.equal(d.resumed, true);
      assert.deepEqual(d.changes, []);
    });

    it("a set deactivation the evidence no longer supports is put back, nothing deployed", () => {
      const d = run({ config: { previousAccessKey: "inactive" }, iam: [newKey(used(1)), oldKey(used(2))] });
      assert.equal(d.step, "none");
      assert.deepEqual(d.restore, [{ key: "previousAccessKey", value: "active" }]);
    });

    it("a set deletion is finished when due", () => {
      const d = run({
        config: { previousAccessKey: "removed" },
        deployed: { slots: inactiveSlots("2026-11-01"), accessKeyId: NEW_ID },
        iam: [newKey(used(1)), oldKey({ status: "Inactive" })],
      });
      assert.equal(d.step, "delete");
      assert.equal(d.resumed, true);
    });

    it("refuses a config difference none of its steps makes (a jump, or skipping inactive)", () => {
      const jump = run({ config: { accessKeyGeneration: 5 }, iam: [newKey(used(1)), oldKey(used(50))] });
      assert.equal(jump.refused, true);
      assert.match(jump.reason, /pulumi config set accessKeyGeneration 3/);
      const skip = run({ config: { previousAccessKey: "removed" }, iam: [newKey(used(1)), oldKey(used(50))] });
      assert.equal(skip.refused, true);
    });
  });
});
