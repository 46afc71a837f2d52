/**
 * A new secret set aside by `npm run rotate-lwa` (issue 20): one LWA refuses, or a late message of an earlier request
 * (sent before the stored secret, lwaClientSecretIssuedAt). It is never stored as the stack's secret and never
 * thrown away: its time goes to lwaRotationSetAside and the secret itself, as a secret, to lwaRotationSetAsideSecret,
 * then `up`, and only then is its message deleted. One slot: while it holds another secret, a further one stays in
 * the queue. An operator clears the slot (`--clear-set-aside`, clearSetAside in by-hand.ts).
 *
 * No import from run.ts: run.ts calls in here, and by-hand.ts uses both.
 */
import { LWA_CLIENT_SECRET, LWA_LEGACY_CLIENT_SECRET } from "../../src/config";
import type { Redactor } from "../../lib/output";
import { printable } from "../../lib/output";
import type { PulumiStack } from "../../lib/pulumi";
import { type Disposition, type Notification, setAsideSlot } from "./decide";

/** What a run of rotate-lwa shares with these effects (run.ts's Run has it all). */
export interface SetAsideRun {
  opts: { dryRun?: boolean };
  now: () => Date;
  redactor: Redactor;
  say: (line: string) => void;
  guard: (next: string) => Promise<void>;
}

/** A received message as run.ts holds it. */
export interface HeldMessage {
  notification: Notification;
  disposition: Disposition;
}

/** The queue side run.ts's Inbox offers. */
export interface SetAsideInbox<H extends HeldMessage> {
  ours(action: Disposition["action"]): H[];
  remove(h: H): Promise<void>;
  release(h: H): Promise<void>;
  forget(h: H): void;
}

/** The slot as this run knows it: the stack's config, updated in place after each write. */
export interface SlotConfig {
  lwaRotationSetAside?: string;
  lwaRotationSetAsideSecret?: string;
}

const isSecretShaped = (s: string) => LWA_CLIENT_SECRET.test(s) || LWA_LEGACY_CLIENT_SECRET.test(s);

/**
 * One new-secret message set aside: recorded in the slot (time, secret) and deployed, then deleted from the queue.
 * `words` say which message and why (the times). A slot holding another secret leaves the message hidden in the queue for
 * this run (run.ts makes it visible again at its end): it is kept there until the slot is cleared.
 * Returns whether the message was done with (recorded or already recorded).
 */
export async function keepSetAside<H extends HeldMessage>(
  run: SetAsideRun,
  stack: PulumiStack,
  slot: SlotConfig,
  inbox: SetAsideInbox<H>,
  h: H,
  found: { sent: string; words: string },
): Promise<boolean> {
  const n = h.notification;
  if (n.kind !== "new-secret") return false;
  run.redactor.addSecret(n.newClientSecret);
  const secret = isSecretShaped(n.newClientSecret) ? n.newClientSecret : undefined;
  const what = `a new-secret message ${printable(found.words, 400)}`;
  if (run.opts.dryRun) {
    run.say(`  would set aside ${what}${secret ? " (the secret would be kept in lwaRotationSetAsideSecret)" : ""}`);
    inbox.forget(h);
    return true;
  }
  const decision = setAsideSlot({ time: slot.lwaRotationSetAside, secret: slot.lwaRotationSetAsideSecret }, { sent: found.sent, secret });
  if (decision.write === "occupied") {
    h.disposition = { action: "set-aside", reason: found.words };
    run.say(
      `  ! set aside ${what}. Left in the queue: the secret set aside at ${decision.keptSince} is still kept (lwaRotationSetAsideSecret); ` +
        `once you have looked into it, npm run rotate-lwa -- --clear-set-aside --stack ${stack.name}, and the next run keeps this one.`,
    );
    return false;
  }
  if (decision.write === "keep") {
    await run.guard("recording lwaRotationSetAside");
    await stack.setConfig("lwaRotationSetAside", found.sent);
    slot.lwaRotationSetAside = found.sent;
    if (secret) {
      await run.guard("keeping the set-aside secret in lwaRotationSetAsideSecret");
      await stack.setSecret("lwaRotationSetAsideSecret", secret);
      slot.lwaRotationSetAsideSecret = secret;
    }
    // Deployed before the message goes: the kept secret must not live only in this working copy.
    await run.guard(`pulumi up --stack ${stack.name}`);
    run.say(`  pulumi up --stack ${stack.name} (the set-aside record)`);
    await stack.up((line) => {
      if (line.trim()) run.say(`    ${line}`);
    });
  }
  await run.guard("deleting the set-aside message from the queue");
  await inbox.remove(h).catch(() => inbox.release(h));
  inbox.forget(h);
  run.say(`  ! set aside ${what}. Recorded in lwaRotationSetAside${secret ? " (the secret kept in lwaRotationSetAsideSecret)" : ""}; nothing else was stored.`);
  return true;
}

/** Every message dispose() set aside (older than the stored secret), each kept by keepSetAside. */
export async function keepOlderSecrets<H extends HeldMessage & { notification: Notification }>(
  run: SetAsideRun,
  stack: PulumiStack,
  slot: SlotConfig,
  inbox: SetAsideInbox<H>,
): Promise<void> {
  for (const h of inbox.ours("set-aside")) {
    const n = h.notification;
    if (n.kind !== "new-secret") continue;
    const reason = (h.disposition as { reason: string }).reason;
    await keepSetAside(run, stack, slot, inbox, h, { sent: n.sentAt ?? run.now().toISOString(), words: reason });
  }
}
