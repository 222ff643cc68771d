/**
 * Leaf & Bean chat widget: one script tag, a launcher and a chat panel in a shadow root,
 * talking to the Rasa widget channel (bot/channels/widget.py) over socket.io.
 *
 *   <script src="https://shop.example.com/widget/widget.js" defer
 *           data-server-url="https://chat.example.com"
 *           data-lang="auto"
 *           data-customer-id="cus_0001" data-customer-expires="1767312000"
 *           data-customer-token="<hex HMAC>"></script>
 *
 * See docs/widget.md for every attribute and the channel's events.
 */
import { io, type Socket } from "socket.io-client";

import { MAX_CHARS, readConfig, type Config } from "./config";
import { el, randomId } from "./dom";
import { STRINGS, type Lang, type Strings } from "./i18n";
import {
  botMessageOf,
  historyMessages,
  renderMessage,
  renderStatus,
  userEchoOf,
  type ChatMessage,
  type Status,
} from "./messages";
import {
  applyStrings,
  buildPanel,
  showBadge,
  showCounter,
  showStatus,
  type ConnectionState,
  type Panel,
} from "./panel";
import { buildRating, postRating, pressFace, showRated, type RatingBox } from "./rating";
import { deliver } from "./outbox";
import { Store } from "./store";

const RETRY_MS = 3_000;
const TYPING_TIMEOUT_MS = 30_000;

/** One widget on the page. */
class ChatWidget {
  private readonly cfg: Config;
  private readonly store: Store;
  private readonly ui: Panel;
  private lang: Lang;
  private t: Strings;
  private socket: Socket;
  private ready = false;
  private flushing = false;
  private retryTimer: number | undefined;
  private typingTimer: number | undefined;
  private noticeTimer: number | undefined;
  private notice: string | null = null;
  private unread = 0;
  private paused = false;
  private isOpen = false;
  private messages: ChatMessage[] = [];
  private sessionId: string | null;
  private rating: HTMLDivElement | null = null;

  constructor(cfg: Config, host: HTMLElement) {
    this.cfg = cfg;
    this.store = new Store(cfg.serverUrl, cfg.identity?.customerId ?? null);
    const stored = this.store.load();
    this.lang = stored.lang ?? cfg.lang;
    this.t = STRINGS[this.lang];
    this.sessionId = stored.sessionId;
    this.ui = buildPanel(host, !!cfg.identity, !!cfg.ratingUrl);
    const ui = this.ui;

    ui.launcher.addEventListener("click", () => this.setOpen(!this.isOpen));
    ui.closeBtn.addEventListener("click", () => this.setOpen(false));
    ui.langBtn.addEventListener("click", () => this.setLang(this.lang === "zh" ? "en" : "zh"));
    ui.endBtn.addEventListener("click", () => this.showRating());
    ui.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.setOpen(false);
      }
    });
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    ui.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    ui.input.addEventListener("input", () => this.updateCounter());

    this.applyStrings();
    this.renderAll();

    this.socket = io(cfg.serverUrl, {
      path: cfg.socketPath,
      transports: ["websocket"],
      autoConnect: false,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
    });
    this.socket.on("connect", () => {
      this.setStatus("connecting");
      this.requestSession();
    });
    this.socket.on("session_confirm", (data: unknown) => this.onSession(data));
    this.socket.on("history", (data: unknown) => this.onHistory(data));
    this.socket.on("disconnect", () => {
      this.ready = false;
      this.showTyping(null);
      this.setStatus(navigator.onLine ? "connecting" : "offline");
    });
    this.socket.on("connect_error", () =>
      this.setStatus(navigator.onLine ? "connecting" : "offline"),
    );
    this.socket.on("bot_uttered", (data: unknown) => this.onBotMessage(data));
    this.socket.on("user_echo", (data: unknown) => this.onUserEcho(data));
    this.socket.on("typing", (data: unknown) => this.onTyping(data));
    this.socket.on("bot_state", (data: unknown) => {
      const paused = !!(data && (data as { paused?: unknown }).paused);
      this.setPaused(paused, this.ready);
    });
    window.addEventListener("offline", () => {
      this.setStatus("offline");
      this.socket.disconnect();
    });
    window.addEventListener("online", () => {
      this.setStatus("connecting");
      if (!this.socket.connected) this.socket.connect();
    });

    if (navigator.onLine) this.socket.connect();
    else this.setStatus("offline");
    if (cfg.openAtStart) this.setOpen(true, false);
  }

  // -- panel ---------------------------------------------------------------------------
  private setOpen(open: boolean, focus = true): void {
    const ui = this.ui;
    this.isOpen = open;
    ui.panel.hidden = !open;
    ui.root.classList.toggle("lb-open", open);
    ui.launcher.setAttribute("aria-expanded", String(open));
    if (open) {
      this.unread = 0;
      this.updateBadge();
      this.scrollDown();
      if (focus) ui.input.focus();
    } else if (focus) {
      ui.launcher.focus();
    }
  }

  private setLang(lang: Lang): void {
    this.lang = lang;
    this.t = STRINGS[lang];
    this.store.update((s) => {
      s.lang = lang;
    });
    this.applyStrings();
    this.ui.log.setAttribute("aria-busy", "true");
    this.renderAll();
    this.ui.log.removeAttribute("aria-busy");
  }

  private applyStrings(): void {
    applyStrings(this.ui, this.t, {
      lang: this.lang,
      title: this.cfg.title,
      customerName: this.cfg.customerName,
      isOpen: this.isOpen,
    });
    this.updateCounter();
    this.updateBadge();
  }

  private setStatus(state: ConnectionState): void {
    showStatus(this.ui, this.t, state);
  }

  private updateBadge(): void {
    showBadge(this.ui, this.t, this.unread);
  }

  private setPaused(paused: boolean, announce: boolean): void {
    const changed = paused !== this.paused;
    this.paused = paused;
    this.ui.banner.hidden = !paused;
    this.ui.root.dataset.paused = String(paused);
    if (changed && announce) this.addSystem(paused ? this.t.founderJoined : this.t.botBack);
  }

  // -- session and history -------------------------------------------------------------
  /** Asks for this tab's session with the newest token any tab stored. */
  private requestSession(): void {
    this.ready = false;
    const stored = this.store.load();
    const sameSession = stored.sessionId === this.sessionId;
    this.socket.emit("session_request", {
      session_id: this.sessionId,
      session_token: sameSession ? stored.sessionToken : null,
    });
  }

  private onSession(data: unknown): void {
    const d = (data ?? {}) as { session_id?: unknown; session_token?: unknown };
    if (typeof d.session_id !== "string" || typeof d.session_token !== "string") return;
    const id = d.session_id;
    if (id !== this.sessionId) {
      // A new conversation (first visit, "new chat", or the old one could not be resumed):
      // what was shown belongs to the old one; unsent messages go to the new one.
      if (this.sessionId !== null) {
        this.messages = this.messages.filter((m) => m.status === "pending");
      }
      this.sessionId = id;
    }
    this.store.confirm(id, d.session_token);
  }

  private onHistory(data: unknown): void {
    const body = (data ?? {}) as { session_id?: unknown; messages?: unknown; paused?: unknown };
    if (body.session_id !== this.sessionId || !this.socket.connected) return;
    this.applyHistory(historyMessages(body.messages), body.paused === true);
    this.ready = true;
    this.setStatus("online");
    void this.flush();
  }

  private applyHistory(history: ChatMessage[], paused: boolean): void {
    const delivered = new Set(history.map((m) => m.clientId).filter(Boolean));
    const stored = this.store.update((s) => {
      s.queue = s.queue.filter((q) => !delivered.has(q.clientId));
    });
    const pending: ChatMessage[] = stored.queue.map((q) => ({
      role: "user",
      text: q.display ?? q.text,
      timestamp: q.at,
      clientId: q.clientId,
      status: "pending",
    }));
    const failed = this.messages.filter((m) => m.status === "failed");
    this.messages = [...history, ...failed, ...pending].sort((a, b) => a.timestamp - b.timestamp);
    this.setPaused(paused, false);
    this.renderAll();
  }

  // -- sending ---------------------------------------------------------------------------
  private submit(): void {
    const input = this.ui.input;
    const text = input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) {
      this.updateCounter();
      input.focus();
      return;
    }
    input.value = "";
    this.updateCounter();
    this.send(text);
    input.focus();
  }

  private send(text: string, display?: string): void {
    const clientId = randomId("m");
    const item = { clientId, text, at: Date.now() / 1000, ...(display ? { display } : {}) };
    this.store.update((s) => {
      s.queue.push(item);
    });
    this.removeRating();
    const shown = display ?? text;
    this.append({ role: "user", text: shown, timestamp: item.at, clientId, status: "pending" });
    void this.flush();
  }

  /** Sends the queued messages one by one, in order, each until it is acknowledged. */
  private async flush(): Promise<void> {
    if (this.flushing || !this.ready) return;
    this.flushing = true;
    window.clearTimeout(this.retryTimer);
    try {
      while (this.ready && this.sessionId) {
        const item = this.store.load().queue[0];
        if (!item) break;
        const outcome = await deliver(this.socket, this.sessionId, item, this.cfg.identity, this.t);
        const message = this.messages.find((m) => m.clientId === item.clientId);
        if (outcome.kind === "no_ack") {
          this.retryTimer = window.setTimeout(() => void this.flush(), RETRY_MS);
          break;
        }
        if (outcome.kind === "no_session") {
          this.requestSession();
          break;
        }
        if (outcome.kind === "wait") {
          // Too fast: the message stays queued and is sent again after the wait.
          this.showNotice(outcome.note, outcome.seconds);
          this.setMessageStatus(message, "pending", outcome.note);
          this.retryTimer = window.setTimeout(() => void this.flush(), outcome.seconds * 1000);
          break;
        }
        this.store.update((s) => {
          s.queue = s.queue.filter((q) => q.clientId !== item.clientId);
        });
        if (outcome.kind === "sent") this.setMessageStatus(message, "sent");
        else this.setMessageStatus(message, "failed", outcome.note);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Shows the channel's notice (zh / en, as it sent it) for ``seconds``. */
  private showNotice(text: string, seconds: number): void {
    window.clearTimeout(this.noticeTimer);
    this.notice = text;
    this.updateCounter();
    this.noticeTimer = window.setTimeout(() => {
      this.notice = null;
      this.updateCounter();
    }, seconds * 1000);
  }

  private updateCounter(): void {
    showCounter(this.ui, this.t, this.notice);
  }

  // -- incoming ------------------------------------------------------------------------
  private onBotMessage(data: unknown): void {
    const message = botMessageOf(data);
    if (!message) return;
    if (message.role === "founder") this.showTyping(null);
    this.append(message);
    if (!this.isOpen) {
      this.unread += 1;
      this.updateBadge();
    }
  }

  private onUserEcho(data: unknown): void {
    const message = userEchoOf(data);
    if (!message) return;
    if (message.clientId && this.messages.some((m) => m.clientId === message.clientId)) return;
    this.append(message);
  }

  private onTyping(data: unknown): void {
    const d = (data ?? {}) as { on?: unknown; author?: unknown };
    this.showTyping(d.on ? (d.author === "founder" ? "founder" : "bot") : null);
  }

  private showTyping(author: "bot" | "founder" | null): void {
    const ui = this.ui;
    window.clearTimeout(this.typingTimer);
    ui.typing.hidden = author === null;
    ui.typing.dataset.author = author ?? "";
    ui.typingLabel.textContent =
      author === "founder" ? this.t.typingFounder : author === "bot" ? this.t.typingBot : "";
    if (author) {
      this.typingTimer = window.setTimeout(() => this.showTyping(null), TYPING_TIMEOUT_MS);
      this.scrollDown();
    }
  }

  // -- rendering -----------------------------------------------------------------------
  private render(m: ChatMessage, last: boolean): HTMLElement {
    return renderMessage(m, {
      t: this.t,
      lang: this.lang,
      last,
      onImageLoad: () => this.scrollDown(),
      onButton: (button, group) => {
        group.remove();
        this.send(button.payload, button.title);
      },
    });
  }

  private renderAll(): void {
    const ui = this.ui;
    ui.greeting.replaceChildren();
    const bubble = el("div", "lb-bubble", this.t.greeting(this.cfg.customerName));
    ui.greeting.append(el("span", "lb-sr", `${this.t.bot}:`), bubble);
    const old = ui.log.querySelectorAll(".lb-msg:not(.lb-greeting), .lb-system");
    for (const node of Array.from(old)) node.remove();
    this.messages.forEach((m, i) => {
      m.node = this.render(m, i === this.messages.length - 1);
      ui.log.insertBefore(m.node, ui.typing);
    });
    if (this.rating) ui.log.insertBefore(this.rating, ui.typing);
    this.scrollDown();
  }

  private append(message: ChatMessage): void {
    const ui = this.ui;
    for (const old of Array.from(ui.log.querySelectorAll(".lb-quick"))) old.remove();
    this.messages.push(message);
    message.node = this.render(message, true);
    ui.log.insertBefore(message.node, this.rating ?? ui.typing);
    this.scrollDown();
  }

  private addSystem(text: string): void {
    this.ui.log.insertBefore(el("div", "lb-system", text), this.ui.typing);
    this.scrollDown();
  }

  private setMessageStatus(m: ChatMessage | undefined, status: Status, note?: string): void {
    if (!m) return;
    m.status = status;
    m.note = note;
    if (m.node) renderStatus(m, m.node, this.t);
  }

  private scrollDown(): void {
    this.ui.log.scrollTop = this.ui.log.scrollHeight;
  }

  // -- rating --------------------------------------------------------------------------
  private removeRating(): void {
    this.rating?.remove();
    this.rating = null;
  }

  private showRating(): void {
    if (!this.cfg.ratingUrl || !this.sessionId) return;
    this.removeRating();
    const parts = buildRating(this.t, (value) => void this.rate(value, parts));
    this.rating = parts.box;
    this.ui.log.insertBefore(parts.box, this.ui.typing);
    this.scrollDown();
    (parts.stars.firstElementChild as HTMLButtonElement | null)?.focus();
  }

  private async rate(value: number, parts: RatingBox): Promise<void> {
    const sessionId = this.sessionId;
    if (!this.cfg.ratingUrl || !sessionId) return;
    pressFace(parts.stars, value);
    const stored = this.store.load();
    const request = {
      url: this.cfg.ratingUrl,
      sessionId,
      sessionToken: stored.sessionId === sessionId ? stored.sessionToken : null,
      lang: this.lang,
    };
    if (!(await postRating(request, value))) {
      parts.result.textContent = this.t.rateError;
      return;
    }
    this.store.update((s) => {
      s.rated[sessionId] = value;
    });
    showRated(parts, this.t, value, () => this.newChat());
  }

  private newChat(): void {
    this.removeRating();
    this.messages = this.messages.filter((m) => m.status === "pending");
    this.sessionId = null;
    this.ready = false;
    this.store.update((s) => {
      s.sessionId = null;
      s.sessionToken = null;
    });
    this.setPaused(false, false);
    this.renderAll();
    if (this.socket.connected) this.requestSession();
    this.ui.input.focus();
  }
}

function boot(): void {
  const script =
    (document.currentScript as HTMLScriptElement | null) ??
    document.querySelector<HTMLScriptElement>("script[data-server-url]");
  const cfg = readConfig(script);
  if (!cfg) return;
  const start = (): void => {
    const host = document.createElement("div");
    host.setAttribute("data-leafbean-widget", "");
    document.body.appendChild(host);
    new ChatWidget(cfg, host);
  };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
}

boot();
