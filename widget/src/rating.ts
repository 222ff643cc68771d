/** The end-of-chat rating: five faces, posted to the web app's `/widget/rating`. */
import { el, randomId } from "./dom";
import type { Lang, Strings } from "./i18n";

const FACES = ["😞", "🙁", "😐", "🙂", "😄"];

export interface RatingRequest {
  url: string;
  sessionId: string;
  sessionToken: string | null;
  lang: Lang;
}

/** Posts a rating (no identity: only the doors attribute a chat to a customer). */
export async function postRating(req: RatingRequest, value: number): Promise<boolean> {
  try {
    const response = await fetch(req.url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        session_id: req.sessionId,
        session_token: req.sessionToken,
        rating: value,
        language: req.lang,
      }),
    });
    return response.ok;
  } catch {
    return false;
  }
}

export interface RatingBox {
  box: HTMLDivElement;
  stars: HTMLDivElement;
  result: HTMLParagraphElement;
}

/** The rating box; ``onRate`` is called with 1-5 when a face is chosen. */
export function buildRating(t: Strings, onRate: (value: number) => void): RatingBox {
  const box = el("div", "lb-rating");
  box.setAttribute("role", "group");
  const question = el("p", undefined, t.rateQuestion);
  question.id = randomId("lb-rate-");
  box.setAttribute("aria-labelledby", question.id);
  const stars = el("div", "lb-stars");
  const result = el("p", "lb-rating-result");
  result.setAttribute("role", "status");
  FACES.forEach((face, i) => {
    const b = el("button", undefined, face);
    b.type = "button";
    b.dataset.rating = String(i + 1);
    b.setAttribute("aria-label", `${i + 1}/5 ${t.rateLabels[i]}`);
    b.title = t.rateLabels[i];
    b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", () => onRate(i + 1));
    stars.append(b);
  });
  box.append(question, stars, result);
  return { box, stars, result };
}

/** Marks the chosen face as pressed. */
export function pressFace(stars: HTMLElement, value: number): void {
  for (const b of Array.from(stars.querySelectorAll("button"))) {
    b.setAttribute("aria-pressed", String(b.dataset.rating === String(value)));
  }
}

/** Thanks the customer and offers a new chat. */
export function showRated(
  parts: RatingBox,
  t: Strings,
  value: number,
  onNewChat: () => void,
): void {
  parts.box.dataset.rated = String(value);
  parts.result.textContent = t.rateThanks;
  const again = el("button", "lb-hbtn lb-new", t.newChat);
  again.type = "button";
  again.style.color = "var(--lb-green)";
  again.style.borderColor = "var(--lb-green)";
  again.addEventListener("click", onNewChat);
  parts.box.append(again);
}
