/**
 * The widget's only contact with the Rasa widget channel (bot/channels/widget.py) over
 * socket.io: the connection and its reconnects, the session request with the rotating
 * session token, the history that makes the widget ready, and the sending of the offline
 * queue, one message at a time, each until the channel acknowledges it.
 *
 * The controller gives it a {@link TransportEvents} object (events in) and calls its methods
 * (out); nothing else in the widget touches the socket.
 *
 * Acknowledgements: `{"ok": true}` or `{"ok": false, "error", "message"?: "<zh> / <en>",
 * "limit"?, "retry_after"?}`; the channel's bilingual notice is passed on as it comes.
 */
import { io, type Socket } from "socket.io-client";

import { identityMetadata, MAX_CHARS, type Config, type Identity } from "./config";
import {
  botMessageOf,
  historyMessages,
  userEchoOf,
  type Author,
  type ChatMessage,
} from "./messages";
import type { Outbox } from "./outbox";
import type { Outgoing, Store } from "./store";

const RETRY_MS = 3_000;
const ACK_TIMEOUT_MS = 60_000;
const MAX_WAIT_S = 120;

export type ConnectionState = "online" | "offline" | "connecting";

/** What became of one queued message, as the controller hears it. */
export type Delivery =
  /** Accepted by the channel. */
  | { kind: "sent" }
  /** Refused for good (dropped from the queue); `notice` is the channel's text, if any. */
  | { kind: "failed"; error?: string; notice?: string; limit: number }
  /** Too fast: stays queued and is sent again after `seconds`. */
  | { kind: "wait"; seconds: number; notice?: string };

/** What the transport tells the controller. */
export interface TransportEvents {
  /** The connection state for the header. */
  status(state: ConnectionState): void;
  /** The connection was lost (what was transient, like "typing", is over). */
  disconnected(): void;
  /** The channel started a new conversation in place of the one this tab showed. */
  sessionReplaced(): void;
  /** The session's history; the queue is sent right after this returns. */
  history(messages: ChatMessage[], paused: boolean): void;
  /** A message from the bot or the founder. */
  botMessage(message: ChatMessage): void;
  /** A message this customer sent from another tab. */
  userEcho(message: ChatMessage): void;
  /** Who is typing now (null: nobody). */
  typing(author: Author | null): void;
  /** The founder took over (paused) or gave the conversation back. */
  botState(paused: boolean): void;
  /** A queued message was sent, refused, or must wait. */
  delivery(clientId: string, result: Delivery): void;
}

interface Ack {
  ok: boolean;
  error?: string;
  message?: string;
  limit?: number;
  retry_after?: number;
}

type Outcome = Delivery | { kind: "no_ack" } | { kind: "no_session" };

/** The socket.io connection to the widget channel. */
export class Transport {
  private readonly socket: Socket;
  private readonly identity: Identity | null;
  private readonly store: Store;
  private readonly outbox: Outbox;
  private readonly events: TransportEvents;
  private currentSession: string | null;
  private isReady = false;
  private flushing = false;
  private retryTimer: number | undefined;

  constructor(
    cfg: Pick<Config, "serverUrl" | "socketPath" | "identity">,
    store: Store,
    outbox: Outbox,
    events: TransportEvents,
  ) {
    this.identity = cfg.identity;
    this.store = store;
    this.outbox = outbox;
    this.events = events;
    this.currentSession = store.load().sessionId;
    this.socket = io(cfg.serverUrl, {
      path: cfg.socketPath,
      transports: ["websocket"],
      autoConnect: false,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
    });
    this.listen();
  }

  /** The conversation this tab shows (null until the channel confirms one). */
  get sessionId(): string | null {
    return this.currentSession;
  }

  /** True once the session's history arrived on the current connection. */
  get ready(): boolean {
    return this.isReady;
  }

  /** Connects, unless the browser is offline. */
  start(): void {
    if (navigator.onLine) this.socket.connect();
    else this.events.status("offline");
  }

  /** Forgets the conversation (here and in storage) and asks the channel for a new one. */
  newSession(): void {
    this.currentSession = null;
    this.isReady = false;
    this.store.update((s) => {
      s.sessionId = null;
      s.sessionToken = null;
    });
    if (this.socket.connected) this.requestSession();
  }

  /** Sends the queued messages one by one, in order, each until it is acknowledged. */
  async flush(): Promise<void> {
    if (this.flushing || !this.isReady) return;
    this.flushing = true;
    window.clearTimeout(this.retryTimer);
    try {
      while (this.isReady && this.currentSession) {
        const item = this.outbox.first();
        if (!item) break;
        const outcome = await this.deliver(this.currentSession, item);
        if (outcome.kind === "no_ack") {
          this.retryTimer = window.setTimeout(() => void this.flush(), RETRY_MS);
          break;
        }
        if (outcome.kind === "no_session") {
          this.requestSession();
          break;
        }
        if (outcome.kind === "wait") {
          this.events.delivery(item.clientId, outcome);
          this.retryTimer = window.setTimeout(() => void this.flush(), outcome.seconds * 1000);
          break;
        }
        this.outbox.remove(item.clientId);
        this.events.delivery(item.clientId, outcome);
      }
    } finally {
      this.flushing = false;
    }
  }

  private listen(): void {
    const socket = this.socket;
    const events = this.events;
    socket.on("connect", () => {
      events.status("connecting");
      this.requestSession();
    });
    socket.on("session_confirm", (data: unknown) => this.onSession(data));
    socket.on("history", (data: unknown) => this.onHistory(data));
    socket.on("disconnect", () => {
      this.isReady = false;
      events.disconnected();
      events.status(navigator.onLine ? "connecting" : "offline");
    });
    socket.on("connect_error", () => events.status(navigator.onLine ? "connecting" : "offline"));
    socket.on("bot_uttered", (data: unknown) => {
      const message = botMessageOf(data);
      if (message) events.botMessage(message);
    });
    socket.on("user_echo", (data: unknown) => {
      const message = userEchoOf(data);
      if (message) events.userEcho(message);
    });
    socket.on("typing", (data: unknown) => {
      const d = (data ?? {}) as { on?: unknown; author?: unknown };
      events.typing(d.on ? (d.author === "founder" ? "founder" : "bot") : null);
    });
    socket.on("bot_state", (data: unknown) => {
      events.botState(!!(data && (data as { paused?: unknown }).paused));
    });
    window.addEventListener("offline", () => {
      events.status("offline");
      socket.disconnect();
    });
    window.addEventListener("online", () => {
      events.status("connecting");
      if (!socket.connected) socket.connect();
    });
  }

  /** Asks for this tab's session with the newest token any tab stored. */
  private requestSession(): void {
    this.isReady = false;
    this.socket.emit("session_request", {
      session_id: this.currentSession,
      session_token: this.store.tokenFor(this.currentSession),
    });
  }

  private onSession(data: unknown): void {
    const d = (data ?? {}) as { session_id?: unknown; session_token?: unknown };
    if (typeof d.session_id !== "string" || typeof d.session_token !== "string") return;
    const id = d.session_id;
    if (id !== this.currentSession) {
      // A new conversation (first visit, "new chat", or the old one could not be resumed).
      const previous = this.currentSession;
      this.currentSession = id;
      if (previous !== null) this.events.sessionReplaced();
    }
    this.store.confirm(id, d.session_token);
  }

  private onHistory(data: unknown): void {
    const body = (data ?? {}) as { session_id?: unknown; messages?: unknown; paused?: unknown };
    if (body.session_id !== this.currentSession || !this.socket.connected) return;
    this.events.history(historyMessages(body.messages), body.paused === true);
    this.isReady = true;
    this.events.status("online");
    void this.flush();
  }

  /** Emits one message and waits for the channel's acknowledgement. */
  private async deliver(sessionId: string, item: Outgoing): Promise<Outcome> {
    const metadata: Record<string, string | number> = identityMetadata(this.identity);
    if (item.display) metadata.display_text = item.display;
    let ack: Ack;
    try {
      ack = (await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("user_uttered", {
        session_id: sessionId,
        message: item.text,
        client_id: item.clientId,
        metadata,
        ...(item.uploadId ? { upload_id: item.uploadId } : {}),
      })) as Ack;
    } catch {
      // Disconnected or slow: resend later; the channel processes a client id once.
      return { kind: "no_ack" };
    }
    if (ack.ok) return { kind: "sent" };
    if (ack.error === "no_session") return { kind: "no_session" };
    if (ack.error === "rate_limited") {
      const seconds = Math.min(Math.max(Number(ack.retry_after) || 5, 1), MAX_WAIT_S);
      return { kind: "wait", seconds, notice: ack.message };
    }
    return { kind: "failed", error: ack.error, notice: ack.message, limit: ack.limit ?? MAX_CHARS };
  }
}
