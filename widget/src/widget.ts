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
import { MAX_CHARS, readConfig, type Config } from "./config";
import { STRINGS, type Lang, type Strings } from "./i18n";
import { ChatLog } from "./log";
import { queuedMessage, type ChatMessage } from "./messages";
import { Outbox } from "./outbox";
import {
  applyStrings,
  bindPanel,
  buildPanel,
  scrollDown,
  showBadge,
  showCounter,
  showOpen,
  showPaused,
  showPhoto,
  showStatus,
  type Panel,
} from "./panel";
import { checkPhoto, uploadPhoto, type Photo } from "./photo";
import { buildRating, postRating, pressFace, showRated, type RatingBox } from "./rating";
import { Store } from "./store";
import { Transport, type Delivery } from "./transport";

/** One widget on the page: the controller between the transport, the queue and the view. */
class ChatWidget {
  private readonly cfg: Config;
  private readonly store: Store;
  private readonly outbox: Outbox;
  private readonly ui: Panel;
  private readonly log: ChatLog;
  private readonly transport: Transport;
  private lang: Lang;
  private t: Strings;
  private noticeTimer: number | undefined;
  private notice: string | null = null;
  private unread = 0;
  private paused = false;
  private isOpen = false;
  /** The photo attached and not sent yet, and whether it is being uploaded. */
  private photo: Photo | null = null;
  private uploading = false;

  constructor(cfg: Config, host: HTMLElement) {
    this.cfg = cfg;
    this.store = new Store(cfg.serverUrl, cfg.identity?.customerId ?? null);
    this.outbox = new Outbox(this.store);
    this.lang = this.store.load().lang ?? cfg.lang;
    this.t = STRINGS[this.lang];
    const ui = (this.ui = buildPanel(host, !!cfg.identity, !!cfg.ratingUrl));
    this.log = new ChatLog(ui, this.lang, this.t, cfg.customerName, (button) =>
      this.send(button.payload, button.title),
    );

    bindPanel(ui, {
      toggle: () => this.setOpen(!this.isOpen),
      close: () => this.setOpen(false),
      switchLang: () => this.setLang(this.lang === "zh" ? "en" : "zh"),
      endChat: () => this.showRating(),
      submit: () => this.submit(),
      typed: () => this.updateCounter(),
      attach: (file) => void this.attach(file),
      removePhoto: () => this.setPhoto(null),
    });
    this.applyStrings();
    this.log.redraw();

    this.transport = new Transport(cfg, this.store, this.outbox, {
      status: (state) => showStatus(this.ui, this.t, state),
      disconnected: () => this.log.showTyping(null),
      // What was shown belongs to the old conversation; unsent messages go to the new one.
      sessionReplaced: () => this.log.keepPending(),
      history: (history, paused) => this.showHistory(history, paused),
      botMessage: (message) => this.onBotMessage(message),
      userEcho: (message) => {
        if (!message.clientId || !this.log.has(message.clientId)) this.log.append(message);
      },
      typing: (author) => this.log.showTyping(author),
      botState: (paused) => this.setPaused(paused, this.transport.ready),
      delivery: (clientId, result) => this.onDelivery(clientId, result),
    });
    this.transport.start();
    if (cfg.openAtStart) this.setOpen(true, false);
  }

  // -- panel ---------------------------------------------------------------------------
  private setOpen(open: boolean, focus = true): void {
    this.isOpen = open;
    showOpen(this.ui, open);
    if (open) {
      this.unread = 0;
      this.updateBadge();
      scrollDown(this.ui);
      if (focus) this.ui.input.focus();
    } else if (focus) {
      this.ui.launcher.focus();
    }
  }

  private setLang(lang: Lang): void {
    this.lang = lang;
    this.t = STRINGS[lang];
    this.store.update((s) => {
      s.lang = lang;
    });
    this.applyStrings();
    this.log.setLanguage(lang, this.t);
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

  private updateBadge(): void {
    showBadge(this.ui, this.t, this.unread);
  }

  private updateCounter(): void {
    showCounter(this.ui, this.t, this.notice);
  }

  private setPaused(paused: boolean, announce: boolean): void {
    const changed = paused !== this.paused;
    this.paused = paused;
    showPaused(this.ui, paused);
    if (changed && announce) this.log.addSystem(paused ? this.t.founderJoined : this.t.botBack);
  }

  // -- conversation ----------------------------------------------------------------------
  /** The session's history, with the messages still queued (those it holds leave the queue). */
  private showHistory(history: ChatMessage[], paused: boolean): void {
    const queued = this.outbox.dropDelivered(history).map(queuedMessage);
    this.setPaused(paused, false);
    this.log.showHistory(history, queued);
  }

  private submit(): void {
    const input = this.ui.input;
    const text = input.value.trim();
    if (this.photo) {
      if (text.length <= MAX_CHARS) void this.sendPhoto(text);
      return;
    }
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

  private send(text: string, display?: string, photo?: { uploadId: string; preview: string }): void {
    const item = this.outbox.add(text, display, photo?.uploadId);
    this.log.removeRating();
    this.log.append({ ...queuedMessage(item), ...(photo ? { localImage: photo.preview } : {}) });
    void this.transport.flush();
  }

  // -- photos ----------------------------------------------------------------------------
  /** Checks a chosen file (type by its bytes, size) and shows it, or says what is wrong. */
  private async attach(file: File): Promise<void> {
    if (this.uploading) return;
    const checked = await checkPhoto(file, this.cfg.maxPhotoBytes, this.t);
    if ("problem" in checked) {
      this.setPhoto(null);
      this.showNotice(checked.problem, 8);
      return;
    }
    this.setPhoto(checked.photo);
    this.ui.input.focus();
  }

  private setPhoto(photo: Photo | null): void {
    this.photo = photo;
    showPhoto(this.ui, this.t, photo && { preview: photo.preview, name: photo.file.name });
    this.updateCounter();
  }

  /**
   * Uploads the attached photo, then queues the message that carries it: the caption, or
   * the `/send_photo` payload shown as "📷 Photo". The upload needs the connection (the
   * session token); the message then goes through the queue like any other.
   */
  private async sendPhoto(caption: string): Promise<void> {
    const photo = this.photo;
    const sessionId = this.transport.sessionId;
    const token = sessionId ? this.store.tokenFor(sessionId) : null;
    if (!photo || this.uploading) return;
    if (!this.transport.ready || !sessionId || !token) {
      this.showNotice(this.t.photoOffline, 6);
      return;
    }
    this.uploading = true;
    showPhoto(this.ui, this.t, { preview: photo.preview, name: photo.file.name }, true);
    try {
      const result = await uploadPhoto(this.cfg.serverUrl, sessionId, token, photo);
      if (!result.ok) {
        const seconds = result.retryAfter ? Math.min(result.retryAfter, 60) : 8;
        this.showNotice(result.notice ?? this.t.photoFailed, seconds);
        return;
      }
      this.ui.input.value = "";
      this.photo = null;
      const upload = { uploadId: result.uploadId, preview: photo.preview };
      if (caption) this.send(caption, undefined, upload);
      else this.send("/send_photo", this.t.photoSent, upload);
    } finally {
      this.uploading = false;
      this.setPhoto(this.photo);
      this.ui.input.focus();
    }
  }

  private onDelivery(clientId: string, result: Delivery): void {
    if (result.kind === "wait") {
      // Too fast: the message stays queued and is sent again after the wait.
      const note = result.notice ?? this.t.tooFast;
      this.showNotice(note, result.seconds);
      this.log.setStatus(clientId, "pending", note);
    } else if (result.kind === "sent") {
      this.log.setStatus(clientId, "sent");
    } else {
      const tooLong = result.error === "too_long" ? this.t.tooLongServer(result.limit) : undefined;
      this.log.setStatus(clientId, "failed", result.notice ?? tooLong);
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

  private onBotMessage(message: ChatMessage): void {
    if (message.role === "founder") this.log.showTyping(null);
    this.log.append(message);
    if (!this.isOpen) {
      this.unread += 1;
      this.updateBadge();
    }
  }

  // -- rating --------------------------------------------------------------------------
  private showRating(): void {
    if (!this.cfg.ratingUrl || !this.transport.sessionId) return;
    const parts = buildRating(this.t, (value) => void this.rate(value, parts));
    this.log.showRating(parts.box);
    (parts.stars.firstElementChild as HTMLButtonElement | null)?.focus();
  }

  private async rate(value: number, parts: RatingBox): Promise<void> {
    const sessionId = this.transport.sessionId;
    if (!this.cfg.ratingUrl || !sessionId) return;
    pressFace(parts.stars, value);
    const request = {
      url: this.cfg.ratingUrl,
      sessionId,
      sessionToken: this.store.tokenFor(sessionId),
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

  /** After a rating: a new conversation (messages still queued go to it). */
  private newChat(): void {
    this.log.removeRating();
    this.log.keepPending();
    this.setPaused(false, false);
    this.log.redraw();
    this.transport.newSession();
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
