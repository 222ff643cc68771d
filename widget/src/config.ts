/**
 * The widget's configuration, read from its script tag's data attributes.
 *
 * A signed-in customer is announced by the host website with three attributes it computes on
 * its server (docs/widget.md): `data-customer-id`, `data-customer-expires` (Unix seconds) and
 * `data-customer-token` (hex HMAC-SHA256 of `v1|<id>|<expires>` with IDENTITY_SECRET). The
 * widget only passes them on; the Rasa channel verifies them.
 */
import { safeHttpUrl } from "./dom";
import { initialLang, type Lang } from "./i18n";
import { DEFAULT_MAX_PHOTO_BYTES } from "./photo";

/** Longest message, in UTF-16 code units (the channel counts characters: never less). */
export const MAX_CHARS = 2000;

export interface Identity {
  customerId: string;
  expiresAt: number;
  token: string;
}

export interface Config {
  serverUrl: string;
  socketPath: string;
  lang: Lang;
  identity: Identity | null;
  customerName: string | null;
  ratingUrl: string | null;
  title: string | null;
  openAtStart: boolean;
  /** Largest photo the customer may attach (`data-upload-max-bytes`, default 5 MiB). */
  maxPhotoBytes: number;
}

function attr(script: HTMLScriptElement | null, name: string): string | null {
  const value = script?.getAttribute(`data-${name}`);
  return value && value.trim() ? value.trim() : null;
}

function readIdentity(script: HTMLScriptElement | null): Identity | null {
  const customerId = attr(script, "customer-id");
  const expires = attr(script, "customer-expires");
  const token = attr(script, "customer-token");
  if (!customerId || !expires || !token) return null;
  if (!/^[0-9]{1,12}$/.test(expires)) {
    console.error("Leaf & Bean widget: data-customer-expires must be a Unix time in seconds");
    return null;
  }
  return { customerId, expiresAt: Number(expires), token };
}

/** The configuration of the widget's script tag, or null if it cannot work. */
export function readConfig(script: HTMLScriptElement | null): Config | null {
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
  return {
    serverUrl: serverUrl.replace(/\/+$/, ""),
    socketPath: attr(script, "socket-path") ?? "/widget/socket.io",
    lang: initialLang(attr(script, "lang"), document, navigator),
    identity: readIdentity(script),
    customerName: attr(script, "customer-name"),
    ratingUrl,
    title: attr(script, "title"),
    openAtStart: attr(script, "open") === "true",
    maxPhotoBytes: maxPhotoBytes(attr(script, "upload-max-bytes")),
  };
}

/** `data-upload-max-bytes` (set it like the Rasa server's UPLOAD_MAX_BYTES), else 5 MiB. */
function maxPhotoBytes(value: string | null): number {
  const n = value && /^[0-9]{1,9}$/.test(value) ? Number(value) : 0;
  return n > 0 ? n : DEFAULT_MAX_PHOTO_BYTES;
}

/** The identity part of a message's metadata (empty for an anonymous visitor). */
export function identityMetadata(identity: Identity | null): Record<string, string | number> {
  if (!identity) return {};
  return {
    customer_id: identity.customerId,
    expires_at: identity.expiresAt,
    customer_token: identity.token,
  };
}
