/**
 * The widget's DOM: a launcher and a chat panel in a shadow root, and the helpers that show
 * state in it (texts, connection, badge, counter, open, paused); the log's contents are
 * log.ts's.
 */
import { MAX_CHARS } from "./config";
import { el, randomId } from "./dom";
import type { Lang, Strings } from "./i18n";
import { ACCEPT } from "./photo";
import { CSS } from "./styles";
import type { ConnectionState } from "./transport";

const CHAT_ICON =
  "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2zm3 6h10V8H7v2zm0 4h7v-2H7v2z";

export interface Panel {
  root: HTMLDivElement;
  launcher: HTMLButtonElement;
  badge: HTMLSpanElement;
  panel: HTMLDivElement;
  titleEl: HTMLHeadingElement;
  statusEl: HTMLDivElement;
  langBtn: HTMLButtonElement;
  endBtn: HTMLButtonElement;
  closeBtn: HTMLButtonElement;
  banner: HTMLDivElement;
  identity: HTMLDivElement;
  log: HTMLDivElement;
  greeting: HTMLDivElement;
  typing: HTMLDivElement;
  typingLabel: HTMLSpanElement;
  form: HTMLFormElement;
  input: HTMLTextAreaElement;
  inputLabel: HTMLLabelElement;
  sendBtn: HTMLButtonElement;
  counter: HTMLSpanElement;
  note: HTMLDivElement;
  attachBtn: HTMLButtonElement;
  fileInput: HTMLInputElement;
  preview: HTMLDivElement;
  previewImg: HTMLImageElement;
  previewLabel: HTMLSpanElement;
  previewRemove: HTMLButtonElement;
}

function launcherIcon(): SVGSVGElement {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", CHAT_ICON);
  svg.appendChild(path);
  return svg;
}

function button(className: string, text?: string): HTMLButtonElement {
  const b = el("button", className, text);
  b.type = "button";
  return b;
}

/** Builds the widget inside ``host``'s shadow root and returns its parts. */
export function buildPanel(host: HTMLElement, signedIn: boolean, rating: boolean): Panel {
  const shadow = host.attachShadow({ mode: "open" });
  const style = el("style");
  style.textContent = CSS;
  shadow.appendChild(style);

  const root = el("div", "lb-root");
  const launcher = button("lb-launcher");
  const badge = el("span", "lb-badge");
  badge.hidden = true;
  badge.setAttribute("aria-hidden", "true");
  launcher.append(launcherIcon(), badge);

  const panel = el("div", "lb-panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.id = randomId("lb-panel-");
  launcher.setAttribute("aria-controls", panel.id);

  const header = el("div", "lb-header");
  const headerText = el("div", "lb-header-text");
  const titleEl = el("h2", "lb-title");
  const statusEl = el("div", "lb-status");
  statusEl.setAttribute("role", "status");
  headerText.append(titleEl, statusEl);
  const langBtn = button("lb-hbtn lb-lang");
  const endBtn = button("lb-hbtn lb-end");
  endBtn.hidden = !rating;
  const closeBtn = button("lb-hbtn lb-close", "×");
  header.append(headerText, langBtn, endBtn, closeBtn);

  const banner = el("div", "lb-banner");
  banner.hidden = true;
  banner.setAttribute("role", "status");
  const identity = el("div", "lb-identity");
  identity.hidden = !signedIn;

  const log = el("div", "lb-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-relevant", "additions");
  log.tabIndex = 0;
  const greeting = el("div", "lb-msg lb-bot lb-greeting");
  const typing = el("div", "lb-typing");
  typing.hidden = true;
  typing.setAttribute("role", "status");
  const dots = el("span", "lb-dots");
  dots.setAttribute("aria-hidden", "true");
  dots.append(el("i"), el("i"), el("i"));
  const typingLabel = el("span");
  typing.append(dots, typingLabel);
  log.append(greeting, typing);

  const form = el("form", "lb-form");
  const input = el("textarea", "lb-input");
  input.rows = 1;
  input.maxLength = MAX_CHARS;
  input.id = randomId("lb-input-");
  const inputLabel = el("label", "lb-sr");
  inputLabel.htmlFor = input.id;
  const counter = el("span", "lb-counter");
  counter.setAttribute("aria-live", "polite");
  const sendBtn = el("button", "lb-send");
  sendBtn.type = "submit";
  const attachBtn = button("lb-attach", "📎");
  const fileInput = el("input", "lb-file");
  fileInput.type = "file";
  fileInput.accept = ACCEPT;
  fileInput.hidden = true;
  fileInput.tabIndex = -1;
  form.append(attachBtn, fileInput, inputLabel, input, counter, sendBtn);
  const preview = el("div", "lb-preview");
  preview.hidden = true;
  const previewImg = el("img", "lb-preview-img");
  const previewLabel = el("span", "lb-preview-label");
  const previewRemove = button("lb-preview-remove", "×");
  preview.append(previewImg, previewLabel, previewRemove);
  const note = el("div", "lb-note");
  note.hidden = true;
  note.setAttribute("role", "alert");

  panel.append(header, banner, identity, log, preview, form, note);
  root.append(panel, launcher);
  shadow.appendChild(root);
  return {
    root, launcher, badge, panel, titleEl, statusEl, langBtn, endBtn, closeBtn, banner,
    identity, log, greeting, typing, typingLabel, form, input, inputLabel, sendBtn, counter,
    note, attachBtn, fileInput, preview, previewImg, previewLabel, previewRemove,
  };
}

/** What the customer does in the panel, for the controller. */
export interface PanelActions {
  /** The launcher: open or close. */
  toggle(): void;
  /** The close button or Escape. */
  close(): void;
  switchLang(): void;
  endChat(): void;
  /** The send button or Enter (Shift+Enter is a new line). */
  submit(): void;
  /** The input's text changed. */
  typed(): void;
  /** The customer chose a file to attach. */
  attach(file: File): void;
  /** The customer removed the attached photo. */
  removePhoto(): void;
}

/** Connects the panel's controls to ``on``. */
export function bindPanel(ui: Panel, on: PanelActions): void {
  ui.launcher.addEventListener("click", () => on.toggle());
  ui.closeBtn.addEventListener("click", () => on.close());
  ui.langBtn.addEventListener("click", () => on.switchLang());
  ui.endBtn.addEventListener("click", () => on.endChat());
  ui.panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      on.close();
    }
  });
  ui.form.addEventListener("submit", (event) => {
    event.preventDefault();
    on.submit();
  });
  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      on.submit();
    }
  });
  ui.input.addEventListener("input", () => on.typed());
  ui.attachBtn.addEventListener("click", () => ui.fileInput.click());
  ui.fileInput.addEventListener("change", () => {
    const file = ui.fileInput.files?.[0];
    ui.fileInput.value = ""; // choosing the same file again fires "change" again
    if (file) on.attach(file);
  });
  ui.previewRemove.addEventListener("click", () => on.removePhoto());
}

export interface TextOptions {
  lang: Lang;
  title: string | null;
  customerName: string | null;
  isOpen: boolean;
}

/** Sets every text of the panel in the current language. */
export function applyStrings(ui: Panel, t: Strings, opts: TextOptions): void {
  ui.root.lang = opts.lang === "zh" ? "zh-CN" : "en";
  ui.launcher.setAttribute("aria-expanded", String(opts.isOpen));
  ui.panel.setAttribute("aria-label", opts.title ?? t.title);
  ui.titleEl.textContent = opts.title ?? t.title;
  ui.langBtn.textContent = t.switchLang;
  ui.langBtn.setAttribute("aria-label", t.switchLangLabel);
  ui.langBtn.lang = opts.lang === "zh" ? "en" : "zh-CN";
  ui.endBtn.textContent = t.endChat;
  ui.closeBtn.setAttribute("aria-label", t.close);
  ui.closeBtn.title = t.close;
  ui.identity.textContent = t.signedIn(opts.customerName);
  ui.log.setAttribute("aria-label", t.messages);
  ui.input.placeholder = t.placeholder;
  ui.inputLabel.textContent = t.inputLabel;
  ui.sendBtn.textContent = t.send;
  ui.banner.textContent = t.founderJoined;
  ui.attachBtn.setAttribute("aria-label", t.attach);
  ui.attachBtn.title = t.attach;
  ui.previewImg.alt = t.photoToSend;
  ui.previewRemove.setAttribute("aria-label", t.removePhoto);
  ui.previewRemove.title = t.removePhoto;
  const state = ui.statusEl.dataset.state;
  showStatus(ui, t, state === "online" || state === "offline" ? state : "connecting");
}

/** The connection state in the header. */
export function showStatus(ui: Panel, t: Strings, state: ConnectionState): void {
  ui.statusEl.dataset.state = state;
  ui.root.dataset.state = state;
  ui.statusEl.textContent =
    state === "online"
      ? `${t.online} · ${t.subtitle}`
      : state === "offline"
        ? t.offline
        : t.connecting;
}

/** The unread badge on the launcher. */
export function showBadge(ui: Panel, t: Strings, unread: number): void {
  ui.badge.hidden = unread === 0;
  ui.badge.textContent = unread > 99 ? "99+" : String(unread);
  ui.launcher.setAttribute("aria-label", unread ? `${t.open} (${t.unread(unread)})` : t.open);
}

/**
 * The character counter (from 80 % of the limit) and the note under the input: the limit
 * when the text is too long, else the channel's notice (e.g. "too fast"), if any.
 */
export function showCounter(ui: Panel, t: Strings, notice: string | null): void {
  const length = ui.input.value.trim().length;
  const over = length > MAX_CHARS;
  ui.counter.hidden = length < MAX_CHARS * 0.8;
  ui.counter.textContent = `${length}/${MAX_CHARS}`;
  ui.counter.classList.toggle("lb-over", over || length === MAX_CHARS);
  const note = over ? t.tooLong(MAX_CHARS, length) : notice;
  ui.note.hidden = !note;
  ui.note.textContent = note ?? "";
  ui.sendBtn.disabled = over;
  ui.input.setAttribute("aria-invalid", String(over));
}

/** Opens or closes the panel (focus is the caller's). */
export function showOpen(ui: Panel, open: boolean): void {
  ui.panel.hidden = !open;
  ui.root.classList.toggle("lb-open", open);
  ui.launcher.setAttribute("aria-expanded", String(open));
}

/** The "founder has taken over" banner. */
export function showPaused(ui: Panel, paused: boolean): void {
  ui.banner.hidden = !paused;
  ui.root.dataset.paused = String(paused);
}

/** Keeps the newest line of the log in view. */
export function scrollDown(ui: Panel): void {
  ui.log.scrollTop = ui.log.scrollHeight;
}

/** The photo waiting to be sent above the input (null hides it); ``busy`` while uploading. */
export function showPhoto(
  ui: Panel,
  t: Strings,
  photo: { preview: string; name: string } | null,
  busy = false,
): void {
  ui.preview.hidden = photo === null;
  ui.previewImg.src = photo ? photo.preview : "";
  ui.previewLabel.textContent = photo ? (busy ? t.photoUploading : photo.name) : "";
  ui.preview.setAttribute("aria-busy", String(busy));
  ui.previewRemove.disabled = busy;
  ui.attachBtn.disabled = busy;
  ui.sendBtn.disabled = busy || ui.sendBtn.disabled;
}
