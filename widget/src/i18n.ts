/** The widget's own texts, in Simplified Chinese and English. */

export type Lang = "zh" | "en";

export interface Strings {
  title: string;
  subtitle: string;
  open: string;
  close: string;
  unread: (n: number) => string;
  greeting: (name: string | null) => string;
  placeholder: string;
  inputLabel: string;
  send: string;
  switchLang: string;
  switchLangLabel: string;
  online: string;
  connecting: string;
  offline: string;
  pending: string;
  failed: string;
  tooLong: (limit: number, length: number) => string;
  tooLongServer: (limit: number) => string;
  tooFast: string;
  typingBot: string;
  typingFounder: string;
  founder: string;
  you: string;
  bot: string;
  founderJoined: string;
  botBack: string;
  endChat: string;
  rateQuestion: string;
  rateLabels: string[];
  rateThanks: string;
  rateError: string;
  newChat: string;
  image: string;
  signedIn: (name: string | null) => string;
  quickReplies: string;
  messages: string;
  attach: string;
  removePhoto: string;
  photoToSend: string;
  photoSent: string;
  photoAttached: string;
  photoUploading: string;
  photoEmpty: string;
  photoWrongType: string;
  photoTooBig: (mb: number) => string;
  photoFailed: string;
  photoOffline: string;
}

const ZH: Strings = {
  title: "在线客服",
  subtitle: "通常几秒内回复",
  open: "打开聊天窗口",
  close: "关闭聊天窗口",
  unread: (n) => `${n} 条未读消息`,
  greeting: (name) =>
    name
      ? `${name}，你好！我是店里的智能助手，可以帮你查订单、管理订阅、推荐茶和咖啡，或者请店主来回答。`
      : "你好！我是店里的智能助手，可以帮你查订单、管理订阅、推荐茶和咖啡，或者请店主来回答。",
  placeholder: "输入消息…",
  inputLabel: "输入消息（Enter 发送，Shift+Enter 换行）",
  send: "发送",
  switchLang: "EN",
  switchLangLabel: "Switch to English",
  online: "在线",
  connecting: "正在连接…",
  offline: "网络已断开：消息会在恢复连接后自动发送",
  pending: "等待发送",
  failed: "未能发送",
  tooLong: (limit, length) => `消息最多 ${limit} 字（现在 ${length} 字），请删减后再发送。`,
  tooLongServer: (limit) => `这条消息超过 ${limit} 字，没有发送。`,
  tooFast: "消息发得太快了，请稍等几秒再试。",
  typingBot: "助手正在输入…",
  typingFounder: "店主正在输入…",
  founder: "店主",
  you: "你",
  bot: "智能助手",
  founderJoined: "店主已加入对话，智能助手暂停回复。",
  botBack: "店主已离开，智能助手继续为你服务。",
  endChat: "结束对话",
  rateQuestion: "这次对话你满意吗？",
  rateLabels: ["很不满意", "不满意", "一般", "满意", "非常满意"],
  rateThanks: "谢谢你的评价！",
  rateError: "评价没有保存成功，请稍后再试。",
  newChat: "开始新对话",
  image: "图片",
  signedIn: (name) => (name ? `已登录：${name}` : "已登录"),
  quickReplies: "快捷回复",
  messages: "聊天记录",
  attach: "发送图片",
  removePhoto: "移除这张图片",
  photoToSend: "待发送的图片",
  photoSent: "📷 图片",
  photoAttached: "📷 已附图片",
  photoUploading: "正在上传图片…",
  photoEmpty: "这个文件是空的。",
  photoWrongType: "只能发送 JPEG、PNG 或 WebP 格式的图片。",
  photoTooBig: (mb) => `图片太大了（最大 ${mb} MB），请压缩后再发送。`,
  photoFailed: "图片没有发送成功，请再试一次。",
  photoOffline: "网络连接恢复后才能发送图片。",
};

const EN: Strings = {
  title: "Chat with us",
  subtitle: "We usually reply in seconds",
  open: "Open the chat",
  close: "Close the chat",
  unread: (n) => `${n} unread message${n === 1 ? "" : "s"}`,
  greeting: (name) =>
    name
      ? `Hi ${name}! I'm the shop's assistant: I can check your order, manage your subscription, recommend a tea or coffee, or fetch the founder.`
      : "Hi! I'm the shop's assistant: I can check your order, manage your subscription, recommend a tea or coffee, or fetch the founder.",
  placeholder: "Type a message…",
  inputLabel: "Your message (Enter to send, Shift+Enter for a new line)",
  send: "Send",
  switchLang: "中文",
  switchLangLabel: "切换到中文",
  online: "Online",
  connecting: "Connecting…",
  offline: "You're offline: messages will be sent when the connection is back",
  pending: "Waiting to send",
  failed: "Not sent",
  tooLong: (limit, length) =>
    `Messages are limited to ${limit} characters (this one has ${length}); please shorten it.`,
  tooLongServer: (limit) => `This message is longer than ${limit} characters and was not sent.`,
  tooFast: "You're sending messages too fast; please wait a few seconds.",
  typingBot: "The assistant is typing…",
  typingFounder: "The founder is typing…",
  founder: "Founder",
  you: "You",
  bot: "Assistant",
  founderJoined: "The founder has joined the chat; the assistant is paused.",
  botBack: "The founder has left; the assistant is back.",
  endChat: "End chat",
  rateQuestion: "How was this chat?",
  rateLabels: ["Very bad", "Bad", "Okay", "Good", "Very good"],
  rateThanks: "Thank you for your feedback!",
  rateError: "Your rating could not be saved; please try again later.",
  newChat: "Start a new chat",
  image: "Image",
  signedIn: (name) => (name ? `Signed in as ${name}` : "Signed in"),
  quickReplies: "Quick replies",
  messages: "Conversation",
  attach: "Send a photo",
  removePhoto: "Remove this photo",
  photoToSend: "Photo to send",
  photoSent: "📷 Photo",
  photoAttached: "📷 Photo attached",
  photoUploading: "Uploading the photo…",
  photoEmpty: "This file is empty.",
  photoWrongType: "Only JPEG, PNG or WebP photos can be sent.",
  photoTooBig: (mb) => `The photo is too large (${mb} MB at most); please send a smaller one.`,
  photoFailed: "The photo could not be sent; please try again.",
  photoOffline: "Photos can be sent once the connection is back.",
};

export const STRINGS: Record<Lang, Strings> = { zh: ZH, en: EN };

/** "zh" for any Chinese language tag, "en" for anything else; null if there is no tag. */
export function langOf(tag: string | null | undefined): Lang | null {
  if (!tag) return null;
  const lower = tag.trim().toLowerCase();
  if (!lower || lower === "auto") return null;
  return lower.startsWith("zh") ? "zh" : "en";
}

/** The language to start with: the attribute, else the page's, else the browser's. */
export function initialLang(attribute: string | null, doc: Document, nav: Navigator): Lang {
  return (
    langOf(attribute) ??
    langOf(doc.documentElement.getAttribute("lang")) ??
    langOf(nav.language) ??
    "en"
  );
}
