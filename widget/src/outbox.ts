/**
 * Sending one queued message to the channel and reading its acknowledgement.
 *
 * The channel answers `{"ok": true}` or `{"ok": false, "error", "message"?: "<zh> / <en>",
 * "limit"?, "retry_after"?}` (bot/channels/widget.py); the widget shows the channel's
 * bilingual notice as it comes.
 */
import type { Socket } from "socket.io-client";

import { identityMetadata, MAX_CHARS, type Identity } from "./config";
import type { Strings } from "./i18n";
import type { Outgoing } from "./store";

const ACK_TIMEOUT_MS = 60_000;
const MAX_WAIT_S = 120;

interface Ack {
  ok: boolean;
  error?: string;
  message?: string;
  limit?: number;
  retry_after?: number;
}

export type Outcome =
  | { kind: "sent" }
  | { kind: "failed"; note?: string }
  | { kind: "no_ack" }
  | { kind: "no_session" }
  | { kind: "wait"; seconds: number; note: string };

/** Emits one message and waits for the channel's acknowledgement. */
export async function deliver(
  socket: Socket,
  sessionId: string,
  item: Outgoing,
  identity: Identity | null,
  t: Strings,
): Promise<Outcome> {
  const metadata: Record<string, string | number> = identityMetadata(identity);
  if (item.display) metadata.display_text = item.display;
  let ack: Ack;
  try {
    ack = (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("user_uttered", {
      session_id: sessionId,
      message: item.text,
      client_id: item.clientId,
      metadata,
    })) as Ack;
  } catch {
    // Disconnected or slow: resend later; the channel processes a client id once.
    return { kind: "no_ack" };
  }
  if (ack.ok) return { kind: "sent" };
  if (ack.error === "no_session") return { kind: "no_session" };
  if (ack.error === "rate_limited") {
    const seconds = Math.min(Math.max(Number(ack.retry_after) || 5, 1), MAX_WAIT_S);
    return { kind: "wait", seconds, note: ack.message ?? t.tooFast };
  }
  const fallback = ack.error === "too_long" ? t.tooLongServer(ack.limit ?? MAX_CHARS) : undefined;
  return { kind: "failed", note: ack.message ?? fallback };
}
