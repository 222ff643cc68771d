/**
 * The offline queue: messages the customer sent that the channel has not acknowledged yet.
 * It lives in the shared localStorage record ({@link Store}), so it survives a reload and
 * any tab of the site may send it; the transport sends it in order, oldest first.
 */
import { randomId } from "./dom";
import type { Outgoing, Store } from "./store";

export class Outbox {
  private readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  /**
   * Queues ``text`` (sent) shown as ``display`` (a quick reply's title, or the photo label),
   * with a new client id and the photo it carries, if any.
   */
  add(text: string, display?: string, uploadId?: string): Outgoing {
    const item = {
      clientId: randomId("m"),
      text,
      at: Date.now() / 1000,
      ...(display ? { display } : {}),
      ...(uploadId ? { uploadId } : {}),
    };
    this.store.update((s) => {
      s.queue.push(item);
    });
    return item;
  }

  /** The oldest message still to send, if any. */
  first(): Outgoing | undefined {
    return this.store.load().queue[0];
  }

  /** Takes a message out of the queue (acknowledged or refused for good). */
  remove(clientId: string): void {
    this.store.update((s) => {
      s.queue = s.queue.filter((q) => q.clientId !== clientId);
    });
  }

  /** Drops the messages the conversation's history already holds; returns those left. */
  dropDelivered(history: { clientId?: string }[]): Outgoing[] {
    const delivered = new Set(history.map((m) => m.clientId).filter(Boolean));
    return this.store.update((s) => {
      s.queue = s.queue.filter((q) => !delivered.has(q.clientId));
    }).queue;
  }
}
