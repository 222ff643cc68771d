/**
 * Safe rendering: every text from the server goes through textContent, links and images
 * only ever get http(s) URLs. Nothing in the widget uses innerHTML.
 */

/** Returns the URL if it is an absolute http(s) URL, else null. */
export function safeHttpUrl(value: unknown): string | null {
  if (typeof value !== "string" || value.length > 2048) return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** Creates an element with optional class names and text (set as textContent). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A URL in running text ends before whitespace, quotes, angle brackets and closing
// punctuation (Latin and Chinese).
const URL_IN_TEXT = /https?:\/\/[^\s<>"'`）)\]】」』，。！？；、]+/gi;
const TRAILING_PUNCTUATION = /[.,!?;:]+$/;

/**
 * Appends ``text`` to ``parent`` as text nodes, with http(s) URLs as links that open in a
 * new tab without access to this page (rel="noopener noreferrer").
 */
export function appendLinkified(parent: HTMLElement, text: string): void {
  let last = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    const start = match.index ?? 0;
    let raw = match[0];
    const trailing = raw.match(TRAILING_PUNCTUATION);
    if (trailing) raw = raw.slice(0, raw.length - trailing[0].length);
    const href = safeHttpUrl(raw);
    if (!href) continue;
    if (start > last) parent.appendChild(document.createTextNode(text.slice(last, start)));
    const link = el("a", "lb-link", raw);
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
    parent.appendChild(link);
    last = start + raw.length;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

/** A random id for a client message (what the channel de-duplicates by). */
export function randomId(prefix: string): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
