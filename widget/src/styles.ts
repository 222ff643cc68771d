/** The widget's stylesheet (inside its shadow root, so the host page's CSS does not leak in). */
export const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.lb-root {
  --lb-green: #2f5d3a; --lb-green-dark: #234a2c; --lb-cream: #f7f4ec; --lb-ink: #1f2421;
  --lb-muted: #5f6b63; --lb-border: #d9d4c7; --lb-founder: #8a4b14;
  position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  font: 15px/1.45 -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei",
    "Noto Sans CJK SC", "Noto Sans SC", sans-serif;
  color: var(--lb-ink);
}
.lb-launcher {
  position: relative; width: 60px; height: 60px; border-radius: 50%; border: 0; cursor: pointer;
  background: var(--lb-green); color: #fff; box-shadow: 0 6px 20px rgba(0,0,0,.25);
  display: flex; align-items: center; justify-content: center; margin-left: auto;
}
.lb-launcher:hover { background: var(--lb-green-dark); }
.lb-launcher svg { width: 28px; height: 28px; fill: currentColor; }
.lb-badge {
  position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #d23c2a; color: #fff; font-size: 12px; font-weight: 700;
  line-height: 22px; text-align: center; border: 2px solid #fff;
}
.lb-badge[hidden] { display: none; }
.lb-panel {
  position: absolute; right: 0; bottom: 76px; width: 380px; height: min(620px, calc(100vh - 110px));
  background: #fff; border-radius: 14px; box-shadow: 0 12px 40px rgba(0,0,0,.25);
  display: flex; flex-direction: column; overflow: hidden; border: 1px solid var(--lb-border);
}
.lb-panel[hidden] { display: none; }
.lb-header {
  background: var(--lb-green); color: #fff; padding: 12px 14px; display: flex; gap: 8px;
  align-items: center;
}
.lb-header-text { flex: 1; min-width: 0; }
.lb-title { font-weight: 700; font-size: 16px; margin: 0; }
.lb-status { font-size: 12px; opacity: .9; }
.lb-status[data-state="offline"] { color: #ffd9a0; opacity: 1; }
.lb-hbtn {
  background: rgba(255,255,255,.15); color: #fff; border: 1px solid rgba(255,255,255,.35);
  border-radius: 8px; padding: 4px 8px; font: inherit; font-size: 13px; cursor: pointer;
}
.lb-hbtn:hover { background: rgba(255,255,255,.28); }
.lb-close { font-size: 20px; line-height: 1; padding: 2px 9px; }
.lb-banner {
  background: #fff4e0; color: var(--lb-founder); padding: 8px 12px; font-size: 13px;
  border-bottom: 1px solid #f0d9b5;
}
.lb-banner[hidden] { display: none; }
.lb-identity { background: var(--lb-cream); color: var(--lb-muted); font-size: 12px; padding: 4px 12px; }
.lb-identity[hidden] { display: none; }
.lb-log {
  flex: 1; overflow-y: auto; padding: 12px; background: var(--lb-cream);
  display: flex; flex-direction: column; gap: 8px;
}
.lb-msg { max-width: 85%; display: flex; flex-direction: column; }
.lb-msg.lb-user { align-self: flex-end; align-items: flex-end; }
.lb-msg.lb-bot, .lb-msg.lb-founder { align-self: flex-start; align-items: flex-start; }
.lb-author { font-size: 12px; color: var(--lb-founder); font-weight: 700; margin: 0 4px 2px; }
.lb-bubble {
  padding: 8px 12px; border-radius: 14px; white-space: pre-wrap; word-wrap: break-word;
  overflow-wrap: anywhere; background: #fff; border: 1px solid var(--lb-border);
}
.lb-user .lb-bubble { background: var(--lb-green); color: #fff; border-color: var(--lb-green); }
.lb-founder .lb-bubble { background: #fff8ee; border-color: #e9c48f; }
.lb-user .lb-link { color: #fff; }
.lb-link { color: var(--lb-green); text-decoration: underline; }
.lb-image { display: block; max-width: 100%; max-height: 240px; border-radius: 10px; margin-top: 6px; }
.lb-meta { font-size: 11px; color: var(--lb-muted); margin: 2px 6px 0; }
.lb-pending .lb-bubble { opacity: .7; }
.lb-failed .lb-meta { color: #b3261e; }
.lb-system { align-self: center; font-size: 12px; color: var(--lb-muted); text-align: center; max-width: 90%; }
.lb-quick { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 4px; }
.lb-quick button {
  border: 1px solid var(--lb-green); background: #fff; color: var(--lb-green); border-radius: 16px;
  padding: 5px 12px; font: inherit; font-size: 14px; cursor: pointer;
}
.lb-quick button:hover, .lb-quick button:focus-visible { background: var(--lb-green); color: #fff; }
.lb-typing { align-self: flex-start; font-size: 13px; color: var(--lb-muted); display: flex; gap: 6px; align-items: center; }
.lb-typing[hidden] { display: none; }
.lb-dots { display: inline-flex; gap: 3px; }
.lb-dots i { width: 6px; height: 6px; border-radius: 50%; background: var(--lb-muted); animation: lb-blink 1.2s infinite; }
.lb-dots i:nth-child(2) { animation-delay: .2s; } .lb-dots i:nth-child(3) { animation-delay: .4s; }
@keyframes lb-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
.lb-rating { background: #fff; border: 1px solid var(--lb-border); border-radius: 12px; padding: 10px; text-align: center; align-self: stretch; }
.lb-rating p { margin: 0 0 6px; }
.lb-stars { display: flex; justify-content: center; gap: 6px; }
.lb-stars button { font-size: 24px; background: none; border: 1px solid transparent; border-radius: 8px; cursor: pointer; padding: 2px 4px; }
.lb-stars button:hover, .lb-stars button:focus-visible { border-color: var(--lb-green); }
.lb-stars button[aria-pressed="true"] { border-color: var(--lb-green); background: var(--lb-cream); }
.lb-form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid var(--lb-border); background: #fff; align-items: flex-end; }
.lb-input {
  flex: 1; resize: none; min-height: 40px; max-height: 120px; padding: 9px 10px; font: inherit;
  border: 1px solid var(--lb-border); border-radius: 10px; color: var(--lb-ink); background: #fff;
}
.lb-input:focus { outline: 2px solid var(--lb-green); outline-offset: 0; }
.lb-send {
  background: var(--lb-green); color: #fff; border: 0; border-radius: 10px; padding: 9px 14px;
  font: inherit; cursor: pointer;
}
.lb-send:disabled { background: #9aa59d; cursor: not-allowed; }
.lb-note { font-size: 12px; color: #b3261e; padding: 0 12px 8px; background: #fff; }
.lb-note[hidden] { display: none; }
.lb-attach {
  background: none; border: 1px solid var(--lb-border); border-radius: 10px; min-width: 40px;
  height: 40px; font-size: 18px; cursor: pointer; color: var(--lb-ink);
}
.lb-attach:hover { border-color: var(--lb-green); }
.lb-attach:disabled { opacity: .5; cursor: not-allowed; }
.lb-preview {
  display: flex; align-items: center; gap: 8px; padding: 6px 10px; background: #fff;
  border-top: 1px solid var(--lb-border); font-size: 12px; color: var(--lb-muted);
}
.lb-preview[hidden] { display: none; }
.lb-preview-img { width: 48px; height: 48px; object-fit: cover; border-radius: 8px; border: 1px solid var(--lb-border); }
.lb-preview-label { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.lb-preview-remove { background: none; border: 0; font-size: 20px; cursor: pointer; color: var(--lb-muted); }
.lb-photo-note { font-size: 12px; opacity: .85; }
.lb-counter { font-size: 11px; color: var(--lb-muted); align-self: center; }
.lb-counter.lb-over { color: #b3261e; font-weight: 700; }
.lb-sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
button:focus-visible, a:focus-visible { outline: 2px solid #f2b134; outline-offset: 2px; }
@media (max-width: 480px) {
  .lb-root { right: 12px; bottom: 12px; }
  .lb-root.lb-open { inset: 0; right: 0; bottom: 0; }
  .lb-open .lb-launcher { display: none; }
  .lb-open .lb-panel { position: fixed; inset: 0; width: 100%; height: 100%; border-radius: 0; border: 0; }
  .lb-msg { max-width: 90%; }
  .lb-input { font-size: 16px; }
}
@media (prefers-reduced-motion: reduce) { .lb-dots i { animation: none; } }
`;
