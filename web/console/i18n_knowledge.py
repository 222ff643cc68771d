"""Interface texts of the console's knowledge page in Chinese and English.

Merged into :data:`web.console.i18n.TEXTS`; ``kb_err_<code>`` explains each refusal of
:class:`analytics.store.knowledge_files.KnowledgeEditError`.
"""

from __future__ import annotations

KNOWLEDGE_TEXTS: dict[str, tuple[str, str]] = {
    "knowledge": ("知识库", "Knowledge"),
    "kb_intro": (
        "机器人从 {folder} 里的文件回答顾客的问题。这里的修改直接写进这些文件，机器人会在 60 秒内用上，不用重新训练。",
        "The bot answers customers from the files in {folder}. Edits here are written to those files; the bot uses them within 60 s, without retraining.",
    ),
    "kb_summary": ("{topics} 个主题，{passages} 段答案", "{topics} topics, {passages} passages"),
    "kb_add_topic": ("新建主题", "Add a topic"),
    "kb_add_passage": ("添加一段答案", "Add a passage"),
    "kb_edit": ("编辑", "Edit"),
    "kb_edit_passage": ("编辑答案", "Edit a passage"),
    "kb_delete_passage": ("删除这段答案", "Delete this passage"),
    "kb_delete_topic": ("删除整个主题文件", "Delete the whole topic file"),
    "kb_confirm_delete": ("确认删除", "Yes, delete"),
    "kb_id": ("编号", "Id"),
    "kb_title": ("标题", "Title"),
    "kb_title_zh": ("中文标题", "Chinese title"),
    "kb_title_en": ("英文标题", "English title"),
    "kb_text_zh": ("中文内容", "Chinese text"),
    "kb_text_en": ("英文内容", "English text"),
    "kb_languages": ("语言", "Languages"),
    "kb_answered": ("回答次数", "Answered"),
    "kb_last_answered": ("最近一次", "Last answered"),
    "kb_topic": ("主题", "Topic"),
    "kb_topic_name": (
        "文件名（小写字母、数字和连字符，不带 .md）",
        "File name (lowercase letters, digits, hyphens; without .md)",
    ),
    "kb_id_help": (
        "以 {prefix} 开头，只用小写字母、数字和连字符；问题集和回答记录靠它指向这段答案，保存后不能改。",
        "Starts with {prefix}; lowercase letters, digits and hyphens only. The answer log points at it, so it cannot change later.",
    ),
    "kb_text_help": (
        "只写一种语言也可以（机器人会说明它引用的是另一种语言的原文）。Markdown 原样保存；不要写以 # 或 ## 开头的行。",
        "One language alone is fine (the bot then says it quotes the other language). Markdown is kept as written; no lines starting with # or ##.",
    ),
    "kb_first_passage": ("第一段答案", "First passage"),
    "kb_saved": ("已保存，机器人会在 60 秒内用上新内容。", "Saved; the bot uses it within 60 s."),
    "kb_deleted": (
        "已删除，机器人会在 60 秒内停止使用。",
        "Deleted; the bot stops using it within 60 s.",
    ),
    "kb_answers": (
        "顾客的问题和回答它的答案",
        "Customer questions and the passage that answered them",
    ),
    "kb_refused": ("没能回答的问题", "Questions the bot could not answer"),
    "kb_all_answers": ("全部", "All"),
    "kb_only_passage": ("只看 {id}", "Only {id}"),
    "kb_question": ("问题（已脱敏）", "Question (redacted)"),
    "kb_passage": ("答案", "Passage"),
    "kb_mode": ("方式", "How"),
    "kb_mode_direct": ("直接回答", "Answered"),
    "kb_mode_quoted": ("引用另一种语言的原文", "Quoted the other language"),
    "kb_mode_refused": ("没有回答", "Not answered"),
    "kb_score": ("分数", "Score"),
    "kb_no_answers": ("还没有记录。", "Nothing recorded yet."),
    "kb_refused_count": ("没能回答 {count} 次", "{count} not answered"),
    "kb_broken": (
        "这个文件格式有误，机器人暂时跳过它（请直接修改文件）：",
        "This file is malformed; the bot skips it until it is fixed in the file:",
    ),
    "kb_deleted_passage": ("（已删除的答案）", "(deleted passage)"),
    "kb_cancel": ("返回", "Back"),
    "kb_reload": ("打开最新版本", "Open the current version"),
    "kb_no_topics": ("知识库里还没有主题。", "The knowledge base has no topics yet."),
    "kb_err_bad_topic": (
        "主题名只能用小写字母、数字和连字符（最多 40 个字符）。",
        "A topic name uses lowercase letters, digits and hyphens (at most 40 characters).",
    ),
    "kb_err_unsafe_path": (
        "这个文件不在知识库文件夹里（或是符号链接），不能修改。",
        "That file is outside the knowledge folder (or a symbolic link); it cannot be changed.",
    ),
    "kb_err_bad_id": (
        "编号只能用小写字母、数字和连字符（最多 80 个字符）。",
        "An id uses lowercase letters, digits and hyphens (at most 80 characters).",
    ),
    "kb_err_id_prefix": (
        "编号要以主题名加连字符开头：",
        "The id must start with the topic and a hyphen:",
    ),
    "kb_err_id_taken": ("这个编号已经用过了：", "That id is already used:"),
    "kb_err_title_missing": ("中文标题和英文标题都要填。", "Both titles are needed."),
    "kb_err_title_invalid": (
        "标题只能有一行，最多 120 个字符；中文标题里不能有 “ / ”。",
        "A title is one line of at most 120 characters; the Chinese title may not contain ' / '.",
    ),
    "kb_err_title_zh_needs_chinese": (
        "中文标题里要有汉字。",
        "The Chinese title needs Chinese characters.",
    ),
    "kb_err_title_en_has_chinese": (
        "英文标题里不能有汉字。",
        "The English title may not contain Chinese characters.",
    ),
    "kb_err_text_missing": ("至少写一种语言的内容。", "Write the text in at least one language."),
    "kb_err_text_too_long": (
        "内容太长；每种语言最多这么多个字符：",
        "The text is too long; the limit per language in characters:",
    ),
    "kb_err_zh_needs_chinese": (
        "中文内容里要有汉字。",
        "The Chinese text needs Chinese characters.",
    ),
    "kb_err_en_has_chinese": (
        "英文内容里不能有汉字。",
        "The English text may not contain Chinese characters.",
    ),
    "kb_err_format": (
        "没有保存：这样写会破坏文件格式。解析器说：",
        "Not saved: this would break the file format. The parser says:",
    ),
    "kb_err_stale": (
        "没有保存：你打开表单之后，这个文件被改过（别人，或另一个窗口）。为了不覆盖那次修改，这次没有写入；你写的内容还在下面。请打开最新版本，再把改动加进去。",
        "Not saved: the file changed after you opened this form (someone else, or another window). Nothing was written, so that change is not lost; your text is still below. Open the current version and apply your edit again.",
    ),
    "kb_err_stale_delete": (
        "没有删除：打开页面之后这个文件被改过。请看一下现在的内容，再决定是否删除。",
        "Not deleted: the file changed after the page was loaded. Look at it as it is now, then decide again.",
    ),
    "kb_err_not_found": (
        "找不到这个主题或答案（可能已被删除）。",
        "No such topic or passage (it may have been deleted).",
    ),
    "kb_err_topic_exists": ("这个主题已经有了：", "That topic already exists:"),
    "kb_err_too_many_topics": ("主题文件太多了，上限：", "Too many topic files; the limit:"),
    "kb_err_last_passage": (
        "这是文件里的最后一段答案；要删除请删除整个主题。",
        "This is the file's last passage; delete the whole topic instead.",
    ),
    "kb_err_file_too_large": (
        "文件会超过大小上限（字节）：",
        "The file would pass the size limit (bytes):",
    ),
    "kb_err_broken_file": (
        "这个文件已经损坏，请直接修改文件：",
        "The file is damaged; fix it in the file itself:",
    ),
    "kb_err_confirm": ("请先勾选“确认删除”。", "Tick “Yes, delete” first."),
}
