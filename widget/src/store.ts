/**
 * What the widget keeps in localStorage, shared by every tab of a site and customer: the
 * session id and its latest session token, the language, the queue of unsent messages and
 * the ratings given.
 */
import type { Lang } from "./i18n";

const STORAGE_PREFIX = "leafbean-widget:v1:";

export interface Outgoing {
  clientId: string;
  text: string;
  display?: string;
  at: number;
  /** The photo this message carries (uploaded before it was queued). */
  uploadId?: string;
}

export interface Stored {
  sessionId: string | null;
  sessionToken: string | null;
  lang?: Lang;
  queue: Outgoing[];
  rated: Record<string, number>;
}

/** The issue time (ms) a session token carries (`v1.<ms>.<socket>.<mac>`), or 0. */
export function tokenIssuedAt(token: string | null): number {
  const match = token ? /^v1\.([0-9]{1,15})\./.exec(token) : null;
  return match ? Number(match[1]) : 0;
}

export class Store {
  private readonly key: string;

  constructor(serverUrl: string, customerId: string | null) {
    this.key = `${STORAGE_PREFIX}${serverUrl}:${customerId ?? "anonymous"}`;
  }

  load(): Stored {
    try {
      const raw = window.localStorage.getItem(this.key);
      const data = raw ? (JSON.parse(raw) as Partial<Stored>) : {};
      return {
        sessionId: typeof data.sessionId === "string" ? data.sessionId : null,
        sessionToken: typeof data.sessionToken === "string" ? data.sessionToken : null,
        lang: data.lang === "zh" || data.lang === "en" ? data.lang : undefined,
        queue: Array.isArray(data.queue) ? data.queue : [],
        rated: data.rated && typeof data.rated === "object" ? data.rated : {},
      };
    } catch {
      return { sessionId: null, sessionToken: null, queue: [], rated: {} };
    }
  }

  update(change: (stored: Stored) => void): Stored {
    const stored = this.load();
    change(stored);
    try {
      window.localStorage.setItem(this.key, JSON.stringify(stored));
    } catch {
      // Storage full or disabled: the widget still works for this page view.
    }
    return stored;
  }

  /** The stored session token if the stored session is ``sessionId``, else null. */
  tokenFor(sessionId: string | null): string | null {
    const stored = this.load();
    return stored.sessionId === sessionId ? stored.sessionToken : null;
  }

  /**
   * Records a confirmed session and its token. Another tab may have stored a newer token of
   * the same session meanwhile: the newest one is kept (the channel accepts older ones only
   * for a short grace period).
   */
  confirm(sessionId: string, token: string): Stored {
    return this.update((s) => {
      if (s.sessionId !== sessionId || tokenIssuedAt(token) >= tokenIssuedAt(s.sessionToken)) {
        s.sessionId = sessionId;
        s.sessionToken = token;
      }
    });
  }
}
