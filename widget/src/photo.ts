/**
 * Photos the customer attaches: the check before anything is sent (type by the file's first
 * bytes, size), the preview, and the upload to the widget channel
 * (`POST <server>/webhooks/widget/upload`, bot/channels/uploads.py).
 *
 * The upload is a `multipart/form-data` POST with the session id and its session token as
 * form fields: a "simple" cross-origin request, so the browser sends no preflight. The
 * channel checks everything again (token, size, type by decoding) and re-encodes the photo
 * without its metadata; the chat message then names the returned `upload_id`.
 */
import type { Strings } from "./i18n";

/** The content types the channel accepts, by their first bytes. */
export type PhotoType = "image/jpeg" | "image/png" | "image/webp";

/** The default largest photo (UPLOAD_MAX_BYTES on the Rasa server, 5 MiB). */
export const DEFAULT_MAX_PHOTO_BYTES = 5 * 1024 * 1024;

/** What the file chooser offers (the check below is what counts). */
export const ACCEPT = "image/jpeg,image/png,image/webp";

/** The type of an image by its first bytes (JPEG, PNG or WebP), else null. */
export function sniffBytes(b: Uint8Array): PhotoType | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (b.length >= 8 && png.every((v, i) => b[i] === v)) return "image/png";
  const ascii = (from: number, to: number): string => String.fromCharCode(...b.slice(from, to));
  if (b.length >= 12 && ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "image/webp";
  return null;
}

async function headOf(file: Blob, bytes: number): Promise<Uint8Array> {
  return new Uint8Array(await file.slice(0, bytes).arrayBuffer());
}

/** A photo that passed the checks, with its preview. */
export interface Photo {
  file: File;
  type: PhotoType;
  /** A `data:image/...` URL of the file, for the preview and the sent message. */
  preview: string;
}

/** The customer's words when a file is not a photo the channel takes, or null if it is. */
export async function checkPhoto(
  file: File,
  maxBytes: number,
  t: Strings,
): Promise<{ photo: Photo } | { problem: string }> {
  if (file.size === 0) return { problem: t.photoEmpty };
  if (file.size > maxBytes) return { problem: t.photoTooBig(maxBytes / (1024 * 1024)) };
  const type = sniffBytes(await headOf(file, 12));
  if (!type) return { problem: t.photoWrongType };
  return { photo: { file, type, preview: await dataUrl(file) } };
}

function dataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** What became of an upload. */
export type UploadResult =
  | { ok: true; uploadId: string }
  | { ok: false; error: string; notice?: string; retryAfter?: number };

/** Sends ``photo`` to the channel for ``sessionId`` (with its newest session token). */
export async function uploadPhoto(
  serverUrl: string,
  sessionId: string,
  sessionToken: string,
  photo: Photo,
): Promise<UploadResult> {
  const form = new FormData();
  form.append("session_id", sessionId);
  form.append("session_token", sessionToken);
  form.append("photo", photo.file, `photo.${photo.type.slice(6)}`);
  let reply: Response;
  try {
    reply = await fetch(`${serverUrl}/webhooks/widget/upload`, {
      method: "POST",
      body: form,
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    return { ok: false, error: "network" };
  }
  let body: Record<string, unknown> = {};
  try {
    body = (await reply.json()) as Record<string, unknown>;
  } catch {
    // Not JSON (e.g. a proxy's page): the status says enough.
  }
  if (reply.ok && body.ok === true && typeof body.upload_id === "string") {
    return { ok: true, uploadId: body.upload_id };
  }
  return {
    ok: false,
    error: typeof body.error === "string" ? body.error : `http_${reply.status}`,
    notice: typeof body.message === "string" ? body.message : undefined,
    retryAfter: typeof body.retry_after === "number" ? body.retry_after : undefined,
  };
}
