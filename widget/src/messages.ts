/**
 * Chat messages: their shape, how the channel's payloads (history, bot messages, echoes) and
 * the offline queue become messages, and how one is drawn.
 */
import { appendLinkified, el, safeHttpUrl } from "./dom";
import type { Lang, Strings } from "./i18n";
import type { Outgoing } from "./store";

export type Role = "user" | "bot" | "founder";
/** Who answers the customer (and may be typing). */
export type Author = Exclude<Role, "user">;
export type Status = "pending" | "sent" | "failed";

export interface Button {
  title: string;
  payload: string;
}

export interface ChatMessage {
  role: Role;
  text: string;
  timestamp: number;
  buttons?: Button[];
  image?: string | null;
  /** The customer's own photo as sent from this page (a `data:image/` URL, never stored). */
  localImage?: string;
  /** The customer attached a photo to this message (history: the photo is not served back). */
  photo?: boolean;
  clientId?: string;
  status?: Status;
  note?: string;
  node?: HTMLElement;
}

export function buttonsOf(value: unknown): Button[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter(
      (b): b is Button =>
        !!b && typeof b.title === "string" && typeof b.payload === "string" && !!b.title,
    )
    .map((b) => ({ title: b.title, payload: b.payload }));
}

/** The messages of a `history` event from the channel (anything malformed is skipped). */
export function historyMessages(items: unknown): ChatMessage[] {
  const history: ChatMessage[] = [];
  for (const raw of Array.isArray(items) ? items : []) {
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
      photo: role === "user" && m.photo === true,
    });
  }
  return history;
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

/** Shows a message's delivery state ("waiting to send", "not sent" or the server's note). */
export function renderStatus(m: ChatMessage, node: HTMLElement, t: Strings): void {
  node.classList.toggle("lb-pending", m.status === "pending");
  node.classList.toggle("lb-failed", m.status === "failed");
  node.dataset.status = m.status ?? "";
  const meta = node.querySelector(".lb-meta");
  meta?.querySelector(".lb-state")?.remove();
  const label =
    m.status === "pending"
      ? (m.note ?? t.pending)
      : m.status === "failed"
        ? (m.note ?? t.failed)
        : null;
  if (meta && label) meta.append(el("span", "lb-state", ` · ${label}`));
}

/** Sets a message's delivery state and redraws it, if it is drawn. */
export function updateStatus(
  m: ChatMessage | undefined,
  t: Strings,
  status: Status,
  note?: string,
): void {
  if (!m) return;
  m.status = status;
  m.note = note;
  if (m.node) renderStatus(m, m.node, t);
}

export interface RenderOptions {
  t: Strings;
  lang: Lang;
  last: boolean;
  onImageLoad: () => void;
  onButton: (button: Button, group: HTMLElement) => void;
}

/** The DOM of one message (all text as text nodes, links and images http(s) only). */
export function renderMessage(m: ChatMessage, opts: RenderOptions): HTMLElement {
  const { t } = opts;
  const node = el("div", `lb-msg lb-${m.role}`);
  node.dataset.role = m.role;
  if (m.clientId) node.dataset.clientId = m.clientId;
  if (m.role === "founder") node.append(el("span", "lb-author", t.founder));
  else node.append(el("span", "lb-sr", `${m.role === "user" ? t.you : t.bot}:`));
  const bubble = el("div", "lb-bubble");
  appendLinkified(bubble, m.text);
  const local = m.localImage && m.localImage.startsWith("data:image/") ? m.localImage : null;
  if (m.image || local) {
    const img = el("img", "lb-image");
    img.src = (local ?? m.image) as string;
    img.alt = local ? t.photoSent : t.image;
    img.loading = "lazy";
    img.referrerPolicy = "no-referrer";
    img.addEventListener("load", opts.onImageLoad);
    bubble.append(img);
  } else if (m.photo && !m.text.startsWith("📷")) {
    bubble.append(el("span", "lb-photo-note", ` ${t.photoAttached}`));
  }
  node.append(bubble);
  const meta = el("div", "lb-meta");
  const time = formatTime(m.timestamp, opts.lang);
  const timeEl = el("time", undefined, time.short);
  timeEl.dateTime = time.iso;
  timeEl.title = time.full;
  meta.append(timeEl);
  node.append(meta);
  renderStatus(m, node, t);
  if (opts.last && m.role !== "user" && m.buttons && m.buttons.length) {
    const group = el("div", "lb-quick");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", t.quickReplies);
    for (const button of m.buttons) {
      const b = el("button", undefined, button.title);
      b.type = "button";
      b.addEventListener("click", () => opts.onButton(button, group));
      group.append(b);
    }
    node.append(group);
  }
  return node;
}

/** A `bot_uttered` payload as a message, or null if it has nothing to show. */
export function botMessageOf(data: unknown): ChatMessage | null {
  if (!data || typeof data !== "object") return null;
  const d = data as Record<string, unknown>;
  const attachment = d.attachment as { type?: unknown; payload?: { src?: unknown } } | undefined;
  const image =
    attachment && attachment.type === "image" ? safeHttpUrl(attachment.payload?.src) : null;
  const text = typeof d.text === "string" ? d.text : "";
  if (!text && !image) return null;
  return {
    role: d.author === "founder" ? "founder" : "bot",
    text,
    timestamp: typeof d.timestamp === "number" ? d.timestamp : Date.now() / 1000,
    buttons: buttonsOf(d.quick_replies).concat(buttonsOf(d.buttons)),
    image,
  };
}

/** A `user_echo` payload (a message sent from another tab) as a message, or null. */
export function userEchoOf(data: unknown): ChatMessage | null {
  if (!data || typeof data !== "object") return null;
  const d = data as Record<string, unknown>;
  if (typeof d.text !== "string") return null;
  return {
    role: "user",
    text: d.text,
    timestamp: typeof d.timestamp === "number" ? d.timestamp : Date.now() / 1000,
    clientId: typeof d.client_id === "string" ? d.client_id : undefined,
    status: "sent",
  };
}

/** A queued (not yet acknowledged) message as the customer sees it. */
export function queuedMessage(q: Outgoing): ChatMessage {
  return {
    role: "user",
    text: q.display ?? q.text,
    timestamp: q.at,
    clientId: q.clientId,
    status: "pending",
  };
}
