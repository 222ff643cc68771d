/**
 * The conversation as the panel's log shows it: the greeting, the messages (each with its
 * node), system lines, the rating box (kept last) and the typing indicator.
 */
import { el } from "./dom";
import type { Lang, Strings } from "./i18n";
import {
  renderMessage,
  updateStatus,
  type Author,
  type Button,
  type ChatMessage,
  type Status,
} from "./messages";
import { scrollDown, type Panel } from "./panel";

const TYPING_TIMEOUT_MS = 30_000;

/** The messages shown and their nodes in ``ui.log``. */
export class ChatLog {
  private readonly ui: Panel;
  private readonly customerName: string | null;
  private readonly onQuickReply: (button: Button) => void;
  private t: Strings;
  private lang: Lang;
  private messages: ChatMessage[] = [];
  private rating: HTMLElement | null = null;
  private typingTimer: number | undefined;

  constructor(
    ui: Panel,
    lang: Lang,
    t: Strings,
    customerName: string | null,
    onQuickReply: (button: Button) => void,
  ) {
    this.ui = ui;
    this.lang = lang;
    this.t = t;
    this.customerName = customerName;
    this.onQuickReply = onQuickReply;
  }

  /** Redraws everything in ``lang`` (the log is marked busy meanwhile). */
  setLanguage(lang: Lang, t: Strings): void {
    this.lang = lang;
    this.t = t;
    this.ui.log.setAttribute("aria-busy", "true");
    this.redraw();
    this.ui.log.removeAttribute("aria-busy");
  }

  /** True if a message with this client id is shown. */
  has(clientId: string): boolean {
    return this.messages.some((m) => m.clientId === clientId);
  }

  /** Forgets every message but those still waiting to be sent (a new conversation). */
  keepPending(): void {
    this.messages = this.messages.filter((m) => m.status === "pending");
  }

  /** Shows ``history`` with the messages that failed here and those still ``queued``. */
  showHistory(history: ChatMessage[], queued: ChatMessage[]): void {
    const failed = this.messages.filter((m) => m.status === "failed");
    this.messages = [...history, ...failed, ...queued].sort((a, b) => a.timestamp - b.timestamp);
    this.redraw();
  }

  /** Draws the greeting and every message again (the rating box stays last). */
  redraw(): void {
    const ui = this.ui;
    ui.greeting.replaceChildren();
    const bubble = el("div", "lb-bubble", this.t.greeting(this.customerName));
    ui.greeting.append(el("span", "lb-sr", `${this.t.bot}:`), bubble);
    const old = ui.log.querySelectorAll(".lb-msg:not(.lb-greeting), .lb-system");
    for (const node of Array.from(old)) node.remove();
    this.messages.forEach((m, i) => {
      m.node = this.render(m, i === this.messages.length - 1);
      ui.log.insertBefore(m.node, ui.typing);
    });
    if (this.rating) ui.log.insertBefore(this.rating, ui.typing);
    scrollDown(ui);
  }

  /** Adds a message at the end (before the rating box); older quick replies go. */
  append(message: ChatMessage): void {
    const ui = this.ui;
    for (const old of Array.from(ui.log.querySelectorAll(".lb-quick"))) old.remove();
    this.messages.push(message);
    message.node = this.render(message, true);
    ui.log.insertBefore(message.node, this.rating ?? ui.typing);
    scrollDown(ui);
  }

  /** Sets the delivery state of the message with this client id, if it is shown. */
  setStatus(clientId: string, status: Status, note?: string): void {
    updateStatus(
      this.messages.find((m) => m.clientId === clientId),
      this.t,
      status,
      note,
    );
  }

  /** A line from the widget itself (e.g. "the founder has joined"). */
  addSystem(text: string): void {
    this.add(el("div", "lb-system", text));
  }

  /** Shows ``box`` as the rating box, last in the log. */
  showRating(box: HTMLElement): void {
    this.removeRating();
    this.rating = box;
    this.add(box);
  }

  removeRating(): void {
    this.rating?.remove();
    this.rating = null;
  }

  /** The typing indicator for ``author`` (null hides it); it hides itself after a while. */
  showTyping(author: Author | null): void {
    const ui = this.ui;
    window.clearTimeout(this.typingTimer);
    ui.typing.hidden = author === null;
    ui.typing.dataset.author = author ?? "";
    ui.typingLabel.textContent =
      author === "founder" ? this.t.typingFounder : author === "bot" ? this.t.typingBot : "";
    if (author) {
      this.typingTimer = window.setTimeout(() => this.showTyping(null), TYPING_TIMEOUT_MS);
      scrollDown(ui);
    }
  }

  private add(node: HTMLElement): void {
    this.ui.log.insertBefore(node, this.ui.typing);
    scrollDown(this.ui);
  }

  private render(m: ChatMessage, last: boolean): HTMLElement {
    return renderMessage(m, {
      t: this.t,
      lang: this.lang,
      last,
      onImageLoad: () => scrollDown(this.ui),
      onButton: (button, group) => {
        group.remove();
        this.onQuickReply(button);
      },
    });
  }
}
