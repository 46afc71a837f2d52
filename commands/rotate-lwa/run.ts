/**
 * `npm run rotate-lwa`, the effects: read the stack, read the queue, ask Amazon for a rotation when due, wait for
 * the new secret, prove it, store it, `pulumi up`, write the block, and only then delete the message.
 *
 * The one rule everything here serves: the new secret exists only in its queue message until the stack holds it
 * and the block is written, so the message is deleted last, and on any handled failure after it was received it is
 * made visible again at once (a crash leaves it to reappear after the queue's short visibility timeout). Every step
 * is safe to repeat: a rerun finds the message, sees what is already stored, and finishes.
 */
import { LWA_CLIENT_SECRET, LWA_LEGACY_CLIENT_SECRET } from "../../src/config";
import { readSettings, SettingsError } from "../../lib/net";
import { gitExposureWarning, userPath, writePrivateFile } from "../../lib/files";
import { Redactor } from "../../lib/output";
import { PulumiError, type PulumiStack, type StackConfigView } from "../../lib/pulumi";
import { grantlessToken, refreshTokenExchange, requestRotation } from "./amazon";
import {
  checkPrerequisites,
  currentExpiry,
  decideStep,
  developerConsoleStep,
  disagreementWords,
  dispose,
  Disposition,
  Failure,
  isoTime,
  judgeGrantlessToken,
  judgeProof,
  judgeRotationRequest,
  mayHaveReachedAmazon,
  Notification,
  OLD_SECRET_GRACE_DAYS,
  parseNotification,
  PENDING_ROTATION_HOURS,
  plainTime,
  Prerequisites,
  rotationRequestedBody,
} from "./decide";
import { MAX_POLL_SECONDS, NotificationQueue, QueueError, Received } from "./queue";

export interface LwaRotationResult {
  outcome: "rotated" | "not-due" | "waiting" | "failed" | "skipped";
  detail: string;
  expiresAt?: string;
  wroteBlock?: string;
  exitCode: 0 | 1 | 2;
}

export interface RotateLwaOptions {
  ifDue: boolean;
  waitSeconds: number;
  out: string;
  dryRun?: boolean;
  env?: NodeJS.ProcessEnv;
  print: (line: string) => void;
  now?: () => Date;
}

export const DEFAULT_WAIT_SECONDS = 300;
export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;
/**
 * How long the new-secret message is hidden while this run stores it and runs `pulumi up` (the queue's own 60 s
 * could run out during an up). A crash in that window leaves it to reappear after this long.
 */
export const HOLD_SECONDS = 15 * 60;

interface Held {
  message: Received;
  notification: Notification;
  disposition: Disposition;
}

class StepFailure extends Error {
  constructor(
    readonly failure: Failure,
    readonly outcome: "failed" | "waiting" | "skipped" = "failed",
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(failure.cause);
  }
}

const eventDay = (n: Notification & { eventTime?: string }, now: Date) => (n.eventTime ?? now.toISOString()).slice(0, 10);
const newest = <T extends Held>(list: T[], key: (h: T) => string | undefined): T | undefined =>
  [...list].sort((a, b) => (key(a) ?? "").localeCompare(key(b) ?? "")).pop();

export async function rotateLwa(stack: PulumiStack, opts: RotateLwaOptions): Promise<LwaRotationResult> {
  const env = opts.env ?? process.env;
  const now = opts.now ?? (() => new Date());
  const redactor = new Redactor();
  const say = (line: string) => opts.print(redactor.scrub(line));
  const held = new Map<string, Held>();
  let queue: NotificationQueue | undefined;

  const release = async (h: Held) => {
    try {
      await queue!.setVisibility(h.message, 0);
    } catch (error) {
      say(
        `  ! could not make a message visible again (${error instanceof QueueError ? error.code : "error"}); it reappears by itself within the queue's visibility timeout.`,
      );
    }
    held.delete(h.message.id);
  };
  const remove = async (h: Held) => {
    await queue!.delete(h.message);
    held.delete(h.message.id);
  };

  try {
    say(`rotate-lwa: stack ${stack.name}${opts.dryRun ? " (dry run: decides and prints, changes nothing)" : ""}`);
    let settings;
    try {
      settings = readSettings(env);
    } catch (error) {
      if (error instanceof SettingsError) throw new StepFailure({ cause: error.message, fix: "correct or unset the variable." }, "failed", 2);
      throw error;
    }
    const httpTimeoutMs = Number(env.SP_API_ROTATE_LWA_TIMEOUT_MS) > 0 ? Number(env.SP_API_ROTATE_LWA_TIMEOUT_MS) : DEFAULT_HTTP_TIMEOUT_MS;

    // 1. The stack's settings.
    let view: StackConfigView;
    let outputs;
    try {
      view = await stack.readConfig();
      outputs = await stack.readOutputs();
    } catch (error) {
      if (error instanceof PulumiError) throw new StepFailure({ cause: error.message, fix: "see above." });
      throw error;
    }
    for (const key of view.secretKeys) redactor.addSecret(view.values[key]);
    for (const output of Object.values(outputs)) if (output.secret && typeof output.value === "string") redactor.addSecret(output.value);
    const check = checkPrerequisites(stack.name, view, outputs, now(), settings.spApiEndpoint);
    if (!check.ok) {
      const off = /^lwaRotation is off/.test(check.problem);
      throw new StepFailure({ cause: check.problem, fix: "" }, off ? "skipped" : "failed");
    }
    const pre: Prerequisites = check.value;
    say(`  client id ${pre.clientId}; queue ${pre.queueArn}`);
    queue = new NotificationQueue(pre.queueUrl, pre.queueArn, pre.queueRegion, view, env);
    const q = queue;
    const issuedOn = pre.config.lwaClientSecretIssuedOn;

    // Reads a batch: this app's messages are kept hidden while the run uses them; everything else is made
    // visible again at once. Returns how many messages were new to this run.
    const take = async (messages: Received[]): Promise<number> => {
      let fresh = 0;
      for (const message of messages) {
        const known = held.get(message.id);
        if (known) {
          known.message = message; // the newest receipt handle is the one that deletes
          continue;
        }
        const notification = parseNotification(message.body);
        const disposition = dispose(notification, { clientId: pre.clientId, issuedOn });
        const h: Held = { message, notification, disposition };
        if (disposition.action === "release") {
          await release(h);
          if (!seenOthers.has(message.id)) {
            seenOthers.add(message.id);
            fresh++;
            say(`  left in the queue: a message ${disposition.reason}`);
          }
          continue;
        }
        held.set(message.id, h);
        fresh++;
      }
      return fresh;
    };
    const seenOthers = new Set<string>();
    const ours = (action: Disposition["action"]) => [...held.values()].filter((h) => h.disposition.action === action);

    // 2. The queue first: a new secret already waiting is completed without asking for another rotation.
    try {
      for (;;) {
        const fresh = await take(await q.receive(1));
        if (fresh === 0) break;
      }
    } catch (error) {
      if (error instanceof QueueError) throw new StepFailure({ cause: error.message, fix: "" });
      throw error;
    }

    const expiryMessages = ours("record-expiry") as (Held & { notification: Extract<Notification, { kind: "expiry" }> })[];
    const newestExpiry = newest(expiryMessages, (h) => h.notification.eventTime ?? h.notification.clientSecretExpiryTime);
    const expiry = currentExpiry({
      fromMessage: newestExpiry?.notification.clientSecretExpiryTime,
      fromConfig: pre.config.lwaClientSecretExpiresAt,
      issuedOn,
    });
    if (expiry.ignored) say(`  ! ${expiry.ignored}`);
    if (expiry.expiresAt) say(`  the current secret expires ${plainTime(expiry.expiresAt, now())} (${expiry.source})`);
    if (expiry.disagreementDays !== undefined && issuedOn) say(`  ! ${disagreementWords(expiry.disagreementDays, issuedOn)}`);

    // Amazon's expiry is recorded when it is news, in every run that reads it (also with --if-due when not due):
    // it is what --if-due believes from then on, and the message can then go.
    if (newestExpiry && !opts.dryRun) {
      const time = newestExpiry.notification.clientSecretExpiryTime;
      try {
        if (pre.config.lwaClientSecretExpiresAt !== time) {
          await stack.setConfig("lwaClientSecretExpiresAt", time);
          say(`  recorded Amazon's expiry time in lwaClientSecretExpiresAt (${time})`);
        }
        for (const h of expiryMessages) await remove(h);
      } catch (error) {
        if (error instanceof PulumiError || error instanceof QueueError) throw new StepFailure({ cause: error.message, fix: "run again." });
        throw error;
      }
    }
    for (const h of ours("discard")) {
      say(`  ${opts.dryRun ? "would delete" : "deleted"} a message of this app ${(h.disposition as { reason: string }).reason}`);
      if (!opts.dryRun) await remove(h).catch(() => release(h));
    }

    const markers = ours("pending") as (Held & { notification: Extract<Notification, { kind: "rotation-requested" }> })[];
    const newSecrets = () => ours("complete") as (Held & { notification: Extract<Notification, { kind: "new-secret" }> })[];
    const step = decideStep({
      ifDue: opts.ifDue,
      now: now(),
      warningDays: pre.config.lwaExpiryWarningDays,
      expiry,
      newSecretWaiting: newSecrets().length > 0,
      pendingSince: newest(markers, (h) => h.notification.requestedAt)?.notification.requestedAt,
    });

    // 3. --if-due, and the other ways to stop here.
    switch (step.step) {
      case "not-due": {
        const detail = `not due: the secret expires ${plainTime(step.expiresAt, now())}; --if-due rotates from ${pre.config.lwaExpiryWarningDays} days before.`;
        say(`✓ ${detail}`);
        return { outcome: "not-due", detail, expiresAt: step.expiresAt, exitCode: 0 };
      }
      case "unknown-expiry":
        throw new StepFailure({
          cause: "--if-due cannot tell when the secret expires: lwaClientSecretIssuedOn is not set and Amazon has sent no expiry notification yet.",
          fix: `pulumi config set lwaClientSecretIssuedOn <YYYY-MM-DD, the day the secret was issued> --stack ${stack.name}, or run without --if-due to rotate now.`,
        });
      case "pending-lost":
        if (!opts.dryRun) for (const h of markers) await remove(h).catch(() => undefined);
        throw new StepFailure({
          cause:
            `a rotation requested at ${step.requestedAt} was accepted by Amazon, but no new secret arrived in ${PENDING_ROTATION_HOURS} hours. ` +
            `If Amazon rotated, the old secret stops working about ${plainTime(new Date(Date.parse(step.requestedAt) + OLD_SECRET_GRACE_DAYS * 86_400_000).toISOString(), now())}.`,
          fix: `check the registration: ${developerConsoleStep(pre.queueArn)}. Then rotate by hand in Seller Central (README, Maintenance, the manual route); the next run of this command would request a new rotation.`,
        });
      case "complete":
        say("  a new secret for this app is waiting in the queue: completing that rotation (no new request)");
        break;
      case "wait-pending":
        say(`  a rotation requested at ${step.requestedAt} by an earlier run is not delivered yet: waiting for it (no new request)`);
        break;
      case "rotate":
        break;
    }
    if (opts.dryRun) {
      const detail =
        step.step === "rotate"
          ? "dry run: would request a rotation, wait for the new secret, prove it, store it, run pulumi up and write the block."
          : "dry run: would complete the rotation from the queue.";
      say(detail);
      return { outcome: "skipped", detail, exitCode: 0 };
    }

    // 4. Ask Amazon for a rotation.
    let requestedAt: Date | undefined;
    if (step.step === "rotate") {
      say(`  requesting a new client secret from Amazon (${pre.spApiEndpoint})`);
      const token = await grantlessToken(settings.lwaEndpoint, pre.clientId, pre.clientSecret, httpTimeoutMs);
      if (token.kind === "ok") redactor.addSecret(token.value);
      const tokenFailure = judgeGrantlessToken(token, settings.lwaEndpoint);
      if (tokenFailure) throw new StepFailure(tokenFailure);
      const answer = await requestRotation(pre.spApiEndpoint, (token as { value: string }).value, httpTimeoutMs);
      if (answer.kind === "http" && answer.message) answer.message = redactor.scrub(answer.message);
      const rotationFailure = judgeRotationRequest(answer, { queueArn: pre.queueArn, spApiEndpoint: pre.spApiEndpoint });
      // So that a rerun before the new secret arrives waits for it instead of rotating again; also when the request
      // went unanswered, since Amazon may have acted on it.
      const noteRequest = async (at: Date) => {
        try {
          await q.send(rotationRequestedBody(pre.clientId, at));
        } catch (error) {
          say(
            `  ! could not note the request in the queue (${error instanceof QueueError ? error.code : "error"}): a rerun before the new secret arrives would request another rotation.`,
          );
        }
      };
      if (rotationFailure) {
        if (answer.kind === "unreachable" && mayHaveReachedAmazon(answer.code)) await noteRequest(now());
        throw new StepFailure(rotationFailure);
      }
      requestedAt = now();
      say(`  Amazon accepted the rotation at ${isoTime(requestedAt.toISOString())}; the old secret keeps working for ${OLD_SECRET_GRACE_DAYS} days`);
      await noteRequest(requestedAt);
    }

    // 5. Wait for the new secret.
    if (newSecrets().length === 0) {
      const deadline = Date.now() + opts.waitSeconds * 1000;
      say(`  waiting up to ${opts.waitSeconds} s for Amazon's new secret in the queue`);
      let waited = 0;
      for (;;) {
        const remaining = Math.ceil((deadline - Date.now()) / 1000);
        if (remaining <= 0) break;
        const poll = Math.min(MAX_POLL_SECONDS, remaining);
        let fresh: number;
        try {
          fresh = await take(await q.receive(poll));
        } catch (error) {
          if (error instanceof QueueError) throw new StepFailure({ cause: error.message, fix: "run again: it picks the secret up from the queue." });
          throw error;
        }
        if (newSecrets().length > 0) break;
        const before = waited;
        waited = opts.waitSeconds - Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
        if (waited > before) say(`  still waiting: ${waited} s of ${opts.waitSeconds} s`);
        // Visible messages of others answer a long poll at once: do not spin on them.
        if (fresh === 0) await new Promise((resolve) => setTimeout(resolve, Math.min(2000, Math.max(0, deadline - Date.now()))));
      }
      if (newSecrets().length === 0) {
        const since = requestedAt?.toISOString() ?? newest(markers, (h) => h.notification.requestedAt)?.notification.requestedAt;
        throw new StepFailure(
          {
            cause: `the rotation was requested${since ? ` (at ${since})` : ""}, but Amazon's new secret did not arrive within ${opts.waitSeconds} s.`,
            fix:
              `run the same command again later: it picks the new secret up from the queue and does not request another rotation. ` +
              `The old secret keeps working until about ${plainTime(new Date(Date.parse(since ?? now().toISOString()) + OLD_SECRET_GRACE_DAYS * 86_400_000).toISOString(), now())}.`,
          },
          "waiting",
        );
      }
    }

    const chosen = newest(newSecrets(), (h) => h.notification.eventTime)!;
    const message = chosen.notification;
    redactor.addSecret(message.newClientSecret);
    say(`  the new secret arrived (sent ${message.eventTime ?? "at an unknown time"})`);
    if (!LWA_CLIENT_SECRET.test(message.newClientSecret) && !LWA_LEGACY_CLIENT_SECRET.test(message.newClientSecret)) {
      throw new StepFailure({
        cause: "the new secret in the message does not have the form of an LWA client secret; nothing was stored.",
        fix: "run again; if it persists, rotate by hand (README, Maintenance).",
      });
    }

    // 6. Prove it: the exchange every job makes must succeed with it.
    const proof = await refreshTokenExchange(settings.lwaEndpoint, pre.clientId, message.newClientSecret, pre.refreshToken, httpTimeoutMs);
    if (proof.kind === "ok") redactor.addSecret(proof.value);
    const proofFailure = judgeProof(proof, settings.lwaEndpoint);
    if (proofFailure) throw new StepFailure(proofFailure);
    say("  ✓ the new secret works: LWA exchanged the refresh token with it");

    // 7. Store it (the value on the CLI's standard input), unless an earlier run already did.
    try {
      await q.setVisibility(chosen.message, HOLD_SECONDS);
    } catch (error) {
      if (error instanceof QueueError) throw new StepFailure({ cause: error.message, fix: "run again." });
      throw error;
    }
    const issuedDay = eventDay(message, now());
    let configChanged = false;
    try {
      if (pre.clientSecret !== message.newClientSecret) {
        await stack.setSecret("lwaClientSecret", message.newClientSecret);
        configChanged = true;
        say("  stored the new secret in the stack's config (lwaClientSecret, encrypted)");
      } else {
        say("  the stack already holds the new secret (an earlier run stored it)");
      }
      if (issuedOn !== issuedDay) {
        await stack.setConfig("lwaClientSecretIssuedOn", issuedDay);
        configChanged = true;
      }
      if (message.newClientSecretExpiryTime && pre.config.lwaClientSecretExpiresAt !== message.newClientSecretExpiryTime) {
        await stack.setConfig("lwaClientSecretExpiresAt", message.newClientSecretExpiryTime);
        configChanged = true;
      }
    } catch (error) {
      if (error instanceof PulumiError) {
        throw new StepFailure({ cause: `${error.message} The new secret stays in the queue.`, fix: "fix the cause, then run again." });
      }
      throw error;
    }

    // 8. pulumi up, then the block. An earlier run that got through `up` and then failed to write the block has
    // left the stack deployed with this very config: the block is then taken from the outputs as they are.
    const deployedBlock = outputs.credentials?.value;
    const deployed = !configChanged && typeof deployedBlock === "string" && deployedBlock.includes(JSON.stringify(message.newClientSecret));
    let newOutputs = outputs;
    if (deployed) say("  the stack is already deployed with the new secret (an earlier run ran pulumi up)");
    else say(`  pulumi up --stack ${stack.name}`);
    try {
      if (!deployed) {
        newOutputs = await stack.up((line) => {
          if (line.trim()) say(`    ${line}`);
        });
      }
    } catch (error) {
      if (error instanceof PulumiError) {
        throw new StepFailure({
          cause: `${error.message} The new secret is stored in the stack's config and stays in the queue.`,
          fix: "fix the cause, then run the same command again: it finishes from pulumi up, without another rotation.",
        });
      }
      throw error;
    }
    const block = newOutputs.credentials?.value;
    if (typeof block !== "string") {
      throw new StepFailure({ cause: "pulumi up succeeded but the stack has no credentials output.", fix: "run again; if it persists, report it." });
    }
    redactor.addSecret(block);
    const file = userPath(opts.out, env);
    try {
      writePrivateFile(file, block);
    } catch (error) {
      throw new StepFailure({
        cause: `could not write the credentials block to ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). The stack is up to date; the message stays in the queue.`,
        fix: "choose another --out file and run again.",
      });
    }
    say(`  wrote the new credentials block to ${file} (mode 600)`);
    const exposed = gitExposureWarning(file);
    if (exposed) say(`  ${exposed}`);

    // 9. Only now: the message can go, with any older new-secret messages and this run's note.
    let leftover = false;
    for (const h of [...newSecrets(), ...ours("pending")]) {
      try {
        await remove(h);
      } catch {
        leftover = true;
      }
    }

    // 10. The summary.
    const expiresAt = message.newClientSecretExpiryTime;
    const oldEnds =
      message.oldClientSecretExpiryTime ?? new Date(Date.parse(message.eventTime ?? now().toISOString()) + OLD_SECRET_GRACE_DAYS * 86_400_000).toISOString();
    say(`✓ Rotated the LWA client secret of ${pre.clientId}.`);
    say(`  The new secret expires ${expiresAt ? plainTime(expiresAt, now()) : `about ${plainTime(`${issuedDay}T00:00:00Z`, now())} + 180 days`}.`);
    say(
      `  The old secret stops working ${plainTime(oldEnds, now())}${message.oldClientSecretExpiryTime ? "" : " (7 days after the rotation; Amazon did not say)"}: ` +
        `every job must have the new block from ${file} before then.`,
    );
    if (leftover) {
      throw new StepFailure({
        cause: "everything is done except deleting the message from the queue.",
        fix: "run again: it finds the secret already stored, runs pulumi up and writes the block once more, then deletes it.",
      });
    }
    return { outcome: "rotated", detail: `rotated; the old secret stops working at ${oldEnds}`, expiresAt, wroteBlock: file, exitCode: 0 };
  } catch (error) {
    if (!(error instanceof StepFailure)) throw error;
    say(`✗ ${error.failure.cause}`);
    if (error.failure.fix) say(`  Fix: ${error.failure.fix}`);
    return { outcome: error.outcome, detail: redactor.scrub(error.failure.cause), exitCode: error.exitCode };
  } finally {
    // Whatever was received and is not done with goes back at once, for the next run.
    for (const h of [...held.values()]) await release(h);
    queue?.close();
  }
}
