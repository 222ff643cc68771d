/**
 * Leaf & Bean chat widget: one script tag, a launcher and a chat panel in a shadow root,
 * talking to the Rasa widget channel (bot/channels/widget.py) over socket.io.
 *
 *   <script src="https://shop.example.com/widget/widget.js" defer
 *           data-server-url="https://chat.example.com"
 *           data-lang="auto"
 *           data-customer-id="cus_0001" data-customer-hash="<hex HMAC>"></script>
 *
 * See docs/widget.md for every attribute and the channel's events.
 */
import { io, type Socket } from "socket.io-client";

import { appendLinkified, el, randomId, safeHttpUrl } from "./dom";
import { initialLang, type Lang, STRINGS, type Strings } from "./i18n";
import { CSS } from "./styles";

const MAX_CHARS = 1000;
const ACK_TIMEOUT_MS = 60_000;
const RETRY_MS = 3_000;
const TYPING_TIMEOUT_MS = 30_000;
const STORAGE_PREFIX = "leafbean-widget:v1:";

type Role = "user" | "bot" | "founder";
type Status = "pending" | "sent" | "failed";

interface Button {
  title: string;
  payload: string;
}

interface ChatMessage {
  role: Role;
  text: string;
  timestamp: number;
  buttons?: Button[];
  image?: string | null;
  clientId?: string;
  status?: Status;
  note?: string;
  node?: HTMLElement;
}

interface Outgoing {
  clientId: string;
  text: string;
  display?: string;
  at: number;
}

interface Stored {
  sessionId: string | null;
  lang?: Lang;
  queue: Outgoing[];
  rated: Record<string, number>;
}

interface Ack {
  ok: boolean;
  error?: string;
  limit?: number;
  duplicate?: boolean;
  timestamp?: number;
}

interface Config {
  serverUrl: string;
  socketPath: string;
  lang: Lang;
  customerId: string | null;
  customerHash: string | null;
  customerName: string | null;
  ratingUrl: string | null;
  title: string | null;
  openAtStart: boolean;
}

const CHAT_ICON =
  "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2zm3 6h10V8H7v2zm0 4h7v-2H7v2z";

function attr(script: HTMLScriptElement | null, name: string): string | null {
  const value = script?.getAttribute(`data-${name}`);
  return value && value.trim() ? value.trim() : null;
}

function readConfig(script: HTMLScriptElement | null): Config | null {
  const serverUrl = safeHttpUrl(attr(script, "server-url"));
  if (!serverUrl) {
    console.error("Leaf & Bean widget: data-server-url must be an http(s) URL");
    return null;
  }
  let ratingUrl = safeHttpUrl(attr(script, "rating-url"));
  if (!ratingUrl && script?.src) {
    const src = safeHttpUrl(script.src);
    if (src) ratingUrl = new URL("/widget/rating", src).href;
  }
  const customerId = attr(script, "customer-id");
  const customerHash = attr(script, "customer-hash");
  return {
    serverUrl: serverUrl.replace(/\/+$/, ""),
    socketPath: attr(script, "socket-path") ?? "/widget/socket.io",
    lang: initialLang(attr(script, "lang"), document, navigator),
    customerId: customerId && customerHash ? customerId : null,
    customerHash: customerId && customerHash ? customerHash : null,
    customerName: attr(script, "customer-name"),
    ratingUrl,
    title: attr(script, "title"),
    openAtStart: attr(script, "open") === "true",
  };
}

function formatTime(timestamp: number, lang: Lang): { short: string; full: string; iso: string } {
  const date = new Date(timestamp * 1000);
  const locale = lang === "zh" ? "zh-CN" : "en-GB";
  const time = date.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
  const sameDay = date.toDateString() === new Date().toDateString();
  const day = date.toLocaleDateString(locale, { month: "short", day: "numeric" });
  return {
    short: sameDay ? time : `${day} ${time}`,
    full: date.toLocaleString(locale),
    iso: date.toISOString(),
  };
}

function buttonsOf(value: unknown): Button[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter(
      (b): b is Button =>
        !!b && typeof b.title === "string" && typeof b.payload === "string" && !!b.title,
    )
    .map((b) => ({ title: b.title, payload: b.payload }));
}

/** One widget on the page. */
class ChatWidget {
  private readonly cfg: Config;
  private readonly storageKey: string;
  private lang: Lang;
  private t: Strings;
  private socket: Socket;
  private ready = false;
  private flushing = false;
  private retryTimer: number | undefined;
  private typingTimer: number | undefined;
  private unread = 0;
  private paused = false;
  private isOpen = false;
  private messages: ChatMessage[] = [];
  private sessionId: string | null;

  // DOM
  private readonly root: HTMLDivElement;
  private readonly launcher: HTMLButtonElement;
  private readonly badge: HTMLSpanElement;
  private readonly panel: HTMLDivElement;
  private readonly titleEl: HTMLHeadingElement;
  private readonly statusEl: HTMLDivElement;
  private readonly langBtn: HTMLButtonElement;
  private readonly endBtn: HTMLButtonElement;
  private readonly closeBtn: HTMLButtonElement;
  private readonly banner: HTMLDivElement;
  private readonly identity: HTMLDivElement;
  private readonly log: HTMLDivElement;
  private readonly greeting: HTMLDivElement;
  private readonly typing: HTMLDivElement;
  private readonly typingLabel: HTMLSpanElement;
  private readonly input: HTMLTextAreaElement;
  private readonly inputLabel: HTMLLabelElement;
  private readonly sendBtn: HTMLButtonElement;
  private readonly counter: HTMLSpanElement;
  private readonly note: HTMLDivElement;
  private rating: HTMLDivElement | null = null;

  constructor(cfg: Config, host: HTMLElement) {
    this.cfg = cfg;
    this.storageKey = `${STORAGE_PREFIX}${cfg.serverUrl}:${cfg.customerId ?? "anonymous"}`;
    const stored = this.load();
    this.lang = stored.lang ?? cfg.lang;
    this.t = STRINGS[this.lang];
    this.sessionId = stored.sessionId;

    const shadow = host.attachShadow({ mode: "open" });
    const style = el("style");
    style.textContent = CSS;
    shadow.appendChild(style);

    this.root = el("div", "lb-root");
    this.launcher = el("button", "lb-launcher");
    this.launcher.type = "button";
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", CHAT_ICON);
    svg.appendChild(path);
    this.badge = el("span", "lb-badge");
    this.badge.hidden = true;
    this.badge.setAttribute("aria-hidden", "true");
    this.launcher.append(svg, this.badge);

    this.panel = el("div", "lb-panel");
    this.panel.hidden = true;
    this.panel.setAttribute("role", "dialog");
    this.panel.id = randomId("lb-panel-");
    this.launcher.setAttribute("aria-controls", this.panel.id);

    const header = el("div", "lb-header");
    const headerText = el("div", "lb-header-text");
    this.titleEl = el("h2", "lb-title");
    this.statusEl = el("div", "lb-status");
    this.statusEl.setAttribute("role", "status");
    headerText.append(this.titleEl, this.statusEl);
    this.langBtn = el("button", "lb-hbtn lb-lang");
    this.langBtn.type = "button";
    this.endBtn = el("button", "lb-hbtn lb-end");
    this.endBtn.type = "button";
    this.endBtn.hidden = !cfg.ratingUrl;
    this.closeBtn = el("button", "lb-hbtn lb-close", "×");
    this.closeBtn.type = "button";
    header.append(headerText, this.langBtn, this.endBtn, this.closeBtn);

    this.banner = el("div", "lb-banner");
    this.banner.hidden = true;
    this.banner.setAttribute("role", "status");
    this.identity = el("div", "lb-identity");
    this.identity.hidden = !cfg.customerId;

    this.log = el("div", "lb-log");
    this.log.setAttribute("role", "log");
    this.log.setAttribute("aria-live", "polite");
    this.log.setAttribute("aria-relevant", "additions");
    this.log.tabIndex = 0;
    this.greeting = el("div", "lb-msg lb-bot lb-greeting");
    this.typing = el("div", "lb-typing");
    this.typing.hidden = true;
    this.typing.setAttribute("role", "status");
    const dots = el("span", "lb-dots");
    dots.setAttribute("aria-hidden", "true");
    dots.append(el("i"), el("i"), el("i"));
    this.typingLabel = el("span");
    this.typing.append(dots, this.typingLabel);
    this.log.append(this.greeting, this.typing);

    const form = el("form", "lb-form");
    this.input = el("textarea", "lb-input");
    this.input.rows = 1;
    this.input.id = randomId("lb-input-");
    this.inputLabel = el("label", "lb-sr");
    this.inputLabel.htmlFor = this.input.id;
    this.counter = el("span", "lb-counter");
    this.sendBtn = el("button", "lb-send");
    this.sendBtn.type = "submit";
    form.append(this.inputLabel, this.input, this.counter, this.sendBtn);
    this.note = el("div", "lb-note");
    this.note.hidden = true;
    this.note.setAttribute("role", "alert");

    this.panel.append(header, this.banner, this.identity, this.log, form, this.note);
    this.root.append(this.panel, this.launcher);
    shadow.appendChild(this.root);

    this.launcher.addEventListener("click", () => this.toggle());
    this.closeBtn.addEventListener("click", () => this.setOpen(false));
    this.langBtn.addEventListener("click", () => this.setLang(this.lang === "zh" ? "en" : "zh"));
    this.endBtn.addEventListener("click", () => this.showRating());
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.setOpen(false);
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.updateCounter());

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
      this.socket.emit("session_request", { session_id: this.sessionId });
    });
    this.socket.on("session_confirm", (id: unknown) => {
      if (typeof id === "string") void this.onSession(id);
    });
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

  // -- storage (shared by every tab of this site and customer) -------------------------
  private load(): Stored {
    try {
      const raw = window.localStorage.getItem(this.storageKey);
      const data = raw ? (JSON.parse(raw) as Partial<Stored>) : {};
      return {
        sessionId: typeof data.sessionId === "string" ? data.sessionId : null,
        lang: data.lang === "zh" || data.lang === "en" ? data.lang : undefined,
        queue: Array.isArray(data.queue) ? data.queue : [],
        rated: data.rated && typeof data.rated === "object" ? data.rated : {},
      };
    } catch {
      return { sessionId: null, queue: [], rated: {} };
    }
  }

  private update(change: (stored: Stored) => void): Stored {
    const stored = this.load();
    change(stored);
    try {
      window.localStorage.setItem(this.storageKey, JSON.stringify(stored));
    } catch {
      // Storage full or disabled: the widget still works for this page view.
    }
    return stored;
  }

  // -- panel ---------------------------------------------------------------------------
  private toggle(): void {
    this.setOpen(!this.isOpen);
  }

  private setOpen(open: boolean, focus = true): void {
    this.isOpen = open;
    this.panel.hidden = !open;
    this.root.classList.toggle("lb-open", open);
    this.launcher.setAttribute("aria-expanded", String(open));
    if (open) {
      this.unread = 0;
      this.updateBadge();
      this.scrollDown();
      if (focus) this.input.focus();
    } else if (focus) {
      this.launcher.focus();
    }
  }

  private setLang(lang: Lang): void {
    this.lang = lang;
    this.t = STRINGS[lang];
    this.update((s) => {
      s.lang = lang;
    });
    this.applyStrings();
    this.log.setAttribute("aria-busy", "true");
    this.renderAll();
    this.log.removeAttribute("aria-busy");
  }

  private applyStrings(): void {
    const t = this.t;
    this.root.lang = this.lang === "zh" ? "zh-CN" : "en";
    this.launcher.setAttribute("aria-expanded", String(this.isOpen));
    this.panel.setAttribute("aria-label", this.cfg.title ?? t.title);
    this.titleEl.textContent = this.cfg.title ?? t.title;
    this.langBtn.textContent = t.switchLang;
    this.langBtn.setAttribute("aria-label", t.switchLangLabel);
    this.langBtn.lang = this.lang === "zh" ? "en" : "zh-CN";
    this.endBtn.textContent = t.endChat;
    this.closeBtn.setAttribute("aria-label", t.close);
    this.closeBtn.title = t.close;
    this.identity.textContent = t.signedIn(this.cfg.customerName);
    this.log.setAttribute("aria-label", t.messages);
    this.input.placeholder = t.placeholder;
    this.inputLabel.textContent = t.inputLabel;
    this.sendBtn.textContent = t.send;
    this.banner.textContent = t.founderJoined;
    const state = this.statusEl.dataset.state;
    this.setStatus(state === "online" || state === "offline" ? state : "connecting");
    this.updateCounter();
    this.updateBadge();
  }

  private setStatus(state: "online" | "offline" | "connecting"): void {
    this.statusEl.dataset.state = state;
    this.root.dataset.state = state;
    this.statusEl.textContent =
      state === "online"
        ? `${this.t.online} · ${this.t.subtitle}`
        : state === "offline"
          ? this.t.offline
          : this.t.connecting;
  }

  private updateBadge(): void {
    this.badge.hidden = this.unread === 0;
    this.badge.textContent = this.unread > 99 ? "99+" : String(this.unread);
    const t = this.t;
    this.launcher.setAttribute(
      "aria-label",
      this.unread ? `${t.open} (${t.unread(this.unread)})` : t.open,
    );
  }

  private setPaused(paused: boolean, announce: boolean): void {
    const changed = paused !== this.paused;
    this.paused = paused;
    this.banner.hidden = !paused;
    this.root.dataset.paused = String(paused);
    if (changed && announce) this.addSystem(paused ? this.t.founderJoined : this.t.botBack);
  }

  // -- session and history -------------------------------------------------------------
  private async onSession(id: string): Promise<void> {
    if (id !== this.sessionId) {
      const hadSession = this.sessionId !== null;
      this.sessionId = id;
      this.update((s) => {
        s.sessionId = id;
      });
      if (hadSession) this.messages = this.messages.filter((m) => m.status === "pending");
    }
    try {
      const response = await fetch(
        `${this.cfg.serverUrl}/webhooks/widget/history/${encodeURIComponent(id)}`,
        { cache: "no-store" },
      );
      if (response.ok) this.applyHistory(await response.json());
    } catch {
      // History is a convenience: the conversation continues without it.
    }
    if (!this.socket.connected || id !== this.sessionId) return;
    this.ready = true;
    this.setStatus("online");
    void this.flush();
  }

  private applyHistory(data: unknown): void {
    const body = (data ?? {}) as { messages?: unknown; paused?: unknown };
    const items = Array.isArray(body.messages) ? body.messages : [];
    const history: ChatMessage[] = [];
    for (const raw of items) {
      if (!raw || typeof raw !== "object") continue;
      const m = raw as Record<string, unknown>;
      const role: Role = m.role === "user" ? "user" : m.role === "founder" ? "founder" : "bot";
      history.push({
        role,
        text: typeof m.text === "string" ? m.text : "",
        timestamp: typeof m.timestamp === "number" ? m.timestamp : Date.now() / 1000,
        buttons: buttonsOf(m.buttons),
        image: safeHttpUrl(m.image),
        clientId: typeof m.client_id === "string" ? m.client_id : undefined,
        status: role === "user" ? "sent" : undefined,
      });
    }
    const delivered = new Set(history.map((m) => m.clientId).filter(Boolean));
    const stored = this.update((s) => {
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
    this.setPaused(body.paused === true, false);
    this.renderAll();
  }

  // -- sending ---------------------------------------------------------------------------
  private submit(): void {
    const text = this.input.value.trim();
    if (!text) return;
    if (text.length > MAX_CHARS) {
      this.updateCounter();
      this.input.focus();
      return;
    }
    this.input.value = "";
    this.updateCounter();
    this.send(text);
    this.input.focus();
  }

  private send(text: string, display?: string): void {
    const item: Outgoing = { clientId: randomId("m"), text, at: Date.now() / 1000 };
    if (display) item.display = display;
    this.update((s) => {
      s.queue.push(item);
    });
    this.removeRating();
    this.append({
      role: "user",
      text: display ?? text,
      timestamp: item.at,
      clientId: item.clientId,
      status: "pending",
    });
    void this.flush();
  }

  /** Sends the queued messages one by one, in order, each until it is acknowledged. */
  private async flush(): Promise<void> {
    if (this.flushing || !this.ready) return;
    this.flushing = true;
    window.clearTimeout(this.retryTimer);
    try {
      while (this.ready && this.sessionId) {
        const item = this.load().queue[0];
        if (!item) break;
        const metadata: Record<string, string> = {};
        if (this.cfg.customerId && this.cfg.customerHash) {
          metadata.customer_id = this.cfg.customerId;
          metadata.customer_hash = this.cfg.customerHash;
        }
        if (item.display) metadata.display_text = item.display;
        let ack: Ack;
        try {
          ack = (await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck("user_uttered", {
            session_id: this.sessionId,
            message: item.text,
            client_id: item.clientId,
            metadata,
          })) as Ack;
        } catch {
          // No acknowledgement (disconnected or slow): resend later; the channel
          // de-duplicates by client id, so the message is processed once.
          this.retryTimer = window.setTimeout(() => void this.flush(), RETRY_MS);
          break;
        }
        if (!ack.ok && ack.error === "no_session") {
          this.ready = false;
          this.socket.emit("session_request", { session_id: this.sessionId });
          break;
        }
        this.update((s) => {
          s.queue = s.queue.filter((q) => q.clientId !== item.clientId);
        });
        const message = this.messages.find((m) => m.clientId === item.clientId);
        if (ack.ok) {
          this.setMessageStatus(message, "sent");
        } else {
          const note =
            ack.error === "too_long" ? this.t.tooLongServer(ack.limit ?? MAX_CHARS) : undefined;
          this.setMessageStatus(message, "failed", note);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private updateCounter(): void {
    const length = this.input.value.trim().length;
    const over = length > MAX_CHARS;
    this.counter.hidden = length < MAX_CHARS * 0.8;
    this.counter.textContent = `${length}/${MAX_CHARS}`;
    this.counter.classList.toggle("lb-over", over);
    this.note.hidden = !over;
    this.note.textContent = over ? this.t.tooLong(MAX_CHARS, length) : "";
    this.sendBtn.disabled = over;
    this.input.setAttribute("aria-invalid", String(over));
  }

  // -- incoming ------------------------------------------------------------------------
  private onBotMessage(data: unknown): void {
    if (!data || typeof data !== "object") return;
    const d = data as Record<string, unknown>;
    const attachment = d.attachment as { type?: unknown; payload?: { src?: unknown } } | undefined;
    const image =
      attachment && attachment.type === "image" ? safeHttpUrl(attachment.payload?.src) : null;
    const buttons = buttonsOf(d.quick_replies).concat(buttonsOf(d.buttons));
    const text = typeof d.text === "string" ? d.text : "";
    if (!text && !image) return;
    const role: Role = d.author === "founder" ? "founder" : "bot";
    if (role === "founder") this.showTyping(null);
    this.append({
      role,
      text,
      timestamp: typeof d.timestamp === "number" ? d.timestamp : Date.now() / 1000,
      buttons,
      image,
    });
    if (!this.isOpen) {
      this.unread += 1;
      this.updateBadge();
    }
  }

  private onUserEcho(data: unknown): void {
    if (!data || typeof data !== "object") return;
    const d = data as Record<string, unknown>;
    const clientId = typeof d.client_id === "string" ? d.client_id : undefined;
    if (clientId && this.messages.some((m) => m.clientId === clientId)) return;
    if (typeof d.text !== "string") return;
    this.append({
      role: "user",
      text: d.text,
      timestamp: typeof d.timestamp === "number" ? d.timestamp : Date.now() / 1000,
      clientId,
      status: "sent",
    });
  }

  private onTyping(data: unknown): void {
    const d = (data ?? {}) as { on?: unknown; author?: unknown };
    this.showTyping(d.on ? (d.author === "founder" ? "founder" : "bot") : null);
  }

  private showTyping(author: "bot" | "founder" | null): void {
    window.clearTimeout(this.typingTimer);
    this.typing.hidden = author === null;
    this.typing.dataset.author = author ?? "";
    this.typingLabel.textContent =
      author === "founder" ? this.t.typingFounder : author === "bot" ? this.t.typingBot : "";
    if (author) {
      this.typingTimer = window.setTimeout(() => this.showTyping(null), TYPING_TIMEOUT_MS);
      this.scrollDown();
    }
  }

  // -- rendering -----------------------------------------------------------------------
  private renderAll(): void {
    this.greeting.replaceChildren();
    const bubble = el("div", "lb-bubble", this.t.greeting(this.cfg.customerName));
    this.greeting.append(el("span", "lb-sr", `${this.t.bot}:`), bubble);
    for (const node of Array.from(this.log.querySelectorAll(".lb-msg:not(.lb-greeting), .lb-system"))) {
      node.remove();
    }
    this.messages.forEach((m, i) => {
      m.node = this.renderMessage(m, i === this.messages.length - 1);
      this.log.insertBefore(m.node, this.typing);
    });
    if (this.rating) this.log.insertBefore(this.rating, this.typing);
    this.scrollDown();
  }

  private append(message: ChatMessage): void {
    for (const old of Array.from(this.log.querySelectorAll(".lb-quick"))) old.remove();
    this.messages.push(message);
    message.node = this.renderMessage(message, true);
    this.log.insertBefore(message.node, this.rating ?? this.typing);
    this.scrollDown();
  }

  private addSystem(text: string): void {
    this.log.insertBefore(el("div", "lb-system", text), this.typing);
    this.scrollDown();
  }

  private renderMessage(m: ChatMessage, last: boolean): HTMLElement {
    const t = this.t;
    const node = el("div", `lb-msg lb-${m.role}`);
    node.dataset.role = m.role;
    if (m.clientId) node.dataset.clientId = m.clientId;
    if (m.role === "founder") node.append(el("span", "lb-author", t.founder));
    else node.append(el("span", "lb-sr", `${m.role === "user" ? t.you : t.bot}:`));
    const bubble = el("div", "lb-bubble");
    appendLinkified(bubble, m.text);
    if (m.image) {
      const img = el("img", "lb-image");
      img.src = m.image;
      img.alt = t.image;
      img.loading = "lazy";
      img.referrerPolicy = "no-referrer";
      img.addEventListener("load", () => this.scrollDown());
      bubble.append(img);
    }
    node.append(bubble);
    const meta = el("div", "lb-meta");
    const time = formatTime(m.timestamp, this.lang);
    const timeEl = el("time", undefined, time.short);
    timeEl.dateTime = time.iso;
    timeEl.title = time.full;
    meta.append(timeEl);
    node.append(meta);
    this.renderStatus(m, node);
    if (last && m.role !== "user" && m.buttons && m.buttons.length) {
      const group = el("div", "lb-quick");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", t.quickReplies);
      for (const button of m.buttons) {
        const b = el("button", undefined, button.title);
        b.type = "button";
        b.addEventListener("click", () => {
          group.remove();
          this.send(button.payload, button.title);
        });
        group.append(b);
      }
      node.append(group);
    }
    return node;
  }

  private renderStatus(m: ChatMessage, node: HTMLElement): void {
    node.classList.toggle("lb-pending", m.status === "pending");
    node.classList.toggle("lb-failed", m.status === "failed");
    node.dataset.status = m.status ?? "";
    const meta = node.querySelector(".lb-meta");
    meta?.querySelector(".lb-state")?.remove();
    const label =
      m.status === "pending"
        ? this.t.pending
        : m.status === "failed"
          ? (m.note ?? this.t.failed)
          : null;
    if (meta && label) meta.append(el("span", "lb-state", ` · ${label}`));
  }

  private setMessageStatus(m: ChatMessage | undefined, status: Status, note?: string): void {
    if (!m) return;
    m.status = status;
    m.note = note;
    if (m.node) this.renderStatus(m, m.node);
  }

  private scrollDown(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }

  // -- rating --------------------------------------------------------------------------
  private removeRating(): void {
    this.rating?.remove();
    this.rating = null;
  }

  private showRating(): void {
    if (!this.cfg.ratingUrl || !this.sessionId) return;
    this.removeRating();
    const t = this.t;
    const box = el("div", "lb-rating");
    box.setAttribute("role", "group");
    const question = el("p", undefined, t.rateQuestion);
    question.id = randomId("lb-rate-");
    box.setAttribute("aria-labelledby", question.id);
    const stars = el("div", "lb-stars");
    const faces = ["😞", "🙁", "😐", "🙂", "😄"];
    const result = el("p", "lb-rating-result");
    result.setAttribute("role", "status");
    faces.forEach((face, i) => {
      const b = el("button", undefined, face);
      b.type = "button";
      b.dataset.rating = String(i + 1);
      b.setAttribute("aria-label", `${i + 1}/5 ${t.rateLabels[i]}`);
      b.title = t.rateLabels[i];
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", () => void this.rate(i + 1, stars, result, box));
      stars.append(b);
    });
    box.append(question, stars, result);
    this.rating = box;
    this.log.insertBefore(box, this.typing);
    this.scrollDown();
    (stars.firstElementChild as HTMLButtonElement | null)?.focus();
  }

  private async rate(
    value: number,
    stars: HTMLElement,
    result: HTMLElement,
    box: HTMLElement,
  ): Promise<void> {
    const sessionId = this.sessionId;
    if (!this.cfg.ratingUrl || !sessionId) return;
    for (const b of Array.from(stars.querySelectorAll("button"))) {
      b.setAttribute("aria-pressed", String(b.dataset.rating === String(value)));
    }
    try {
      const response = await fetch(this.cfg.ratingUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          session_id: sessionId,
          rating: value,
          language: this.lang,
          customer_id: this.cfg.customerId,
          customer_hash: this.cfg.customerHash,
        }),
      });
      if (!response.ok) throw new Error(String(response.status));
    } catch {
      result.textContent = this.t.rateError;
      return;
    }
    this.update((s) => {
      s.rated[sessionId] = value;
    });
    box.dataset.rated = String(value);
    result.textContent = this.t.rateThanks;
    const again = el("button", "lb-hbtn lb-new", this.t.newChat);
    again.type = "button";
    again.style.color = "var(--lb-green)";
    again.style.borderColor = "var(--lb-green)";
    again.addEventListener("click", () => this.newChat());
    box.append(again);
  }

  private newChat(): void {
    this.removeRating();
    this.messages = this.messages.filter((m) => m.status === "pending");
    this.sessionId = null;
    this.ready = false;
    this.update((s) => {
      s.sessionId = null;
    });
    this.setPaused(false, false);
    this.renderAll();
    if (this.socket.connected) this.socket.emit("session_request", { session_id: null });
    this.input.focus();
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
