"""A bilingual (Chinese/English) tokenizer for Rasa 3.6.

Han runs are segmented with jieba (with an optional user dictionary), Latin runs become
words, numbers and order ids (``LB`` + 6 digits) stay single tokens; whitespace and
punctuation never become tokens (unlike Rasa's ``JiebaTokenizer``, rasa issue 7910).
Traditional Chinese is converted to Simplified for segmentation only: token offsets and
token texts always refer to the original message text.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.text import HAN_CLASS, to_simplified

logger = logging.getLogger(__name__)

DEFAULT_DICTIONARY_PATH = "bot/nlu/userdict.txt"
_STORED_DICTIONARY = "userdict.txt"

# Order of the alternatives matters: order ids before generic words and numbers.
_TOKEN_RE = re.compile(
    r"(?P<order>(?<![A-Za-z0-9])[Ll][Bb]\d{6}(?![0-9]))"
    r"|(?P<number>\d+(?:[.,:]\d+)*%?)"
    r"|(?P<word>[A-Za-z][A-Za-z0-9]*(?:['’\-][A-Za-z0-9]+)*)"
    f"|(?P<han>[{HAN_CLASS}]+)"
)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class BilingualTokenizer(Tokenizer):
    """Tokenizes Chinese, English and code-switched text with offsets of the original."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config.

        Keys:
            dictionary_path: jieba user dictionary file (or folder of files); missing is
                allowed (a warning is logged). Its contents are stored in the model.
            hmm: let jieba guess unknown words with its HMM.
            intent_tokenization_flag / intent_split_symbol / token_pattern /
                prefix_separator_symbol: as for every Rasa tokenizer.
        """
        return {
            "dictionary_path": DEFAULT_DICTIONARY_PATH,
            "hmm": True,
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
        }

    @staticmethod
    def supported_languages() -> list[str] | None:
        """Any language: the tokenizer handles Han and Latin scripts."""
        return None

    @staticmethod
    def required_packages() -> list[str]:
        """Python packages needed by this component."""
        return ["jieba", "zhconv"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        dictionary_text: str | None = None,
    ) -> None:
        """Creates the tokenizer.

        Args:
            config: Component config (merged with the defaults).
            model_storage: Where the user dictionary is persisted.
            resource: This component's resource in the model storage.
            dictionary_text: Contents of the jieba user dictionary, if any.
        """
        super().__init__(config)
        self._model_storage = model_storage
        self._resource = resource
        self._hmm = bool(config.get("hmm", True))
        self.dictionary_text = dictionary_text
        self._jieba = self._build_jieba(dictionary_text)

    @staticmethod
    def _build_jieba(dictionary_text: str | None) -> Any:
        """Builds a private jieba tokenizer (the global one is left untouched)."""
        import jieba

        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        if dictionary_text:
            with tempfile.NamedTemporaryFile(
                "w", suffix=".txt", delete=False, encoding="utf-8"
            ) as handle:
                handle.write(dictionary_text)
                tmp_path = handle.name
            try:
                tokenizer.load_userdict(tmp_path)
            finally:
                os.unlink(tmp_path)
        return tokenizer

    @staticmethod
    def read_dictionary(path: str | None) -> str | None:
        """Reads a user dictionary file, or all files of a folder.

        Args:
            path: File or folder path; ``None`` disables the dictionary.

        Returns:
            The dictionary text, or ``None`` when there is none (a warning is logged
            when a configured path does not exist).
        """
        if not path:
            return None
        if os.path.isdir(path):
            files = sorted(
                os.path.join(path, name)
                for name in os.listdir(path)
                if os.path.isfile(os.path.join(path, name))
            )
        elif os.path.isfile(path):
            files = [path]
        else:
            logger.warning("jieba user dictionary %s not found; continuing without it", path)
            return None
        texts = []
        for file_path in files:
            with open(file_path, encoding="utf-8") as handle:
                texts.append(handle.read().strip("\ufeff"))
        return "\n".join(text.strip("\n") for text in texts if text.strip()) or None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> BilingualTokenizer:
        """Creates a new (untrained) component, reading the user dictionary file."""
        return cls(
            config, model_storage, resource, cls.read_dictionary(config.get("dictionary_path"))
        )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> BilingualTokenizer:
        """Loads the component with the dictionary stored in the model (not the file)."""
        dictionary_text = None
        try:
            with model_storage.read_from(resource) as directory:
                stored = os.path.join(str(directory), _STORED_DICTIONARY)
                if os.path.isfile(stored):
                    with open(stored, encoding="utf-8") as handle:
                        dictionary_text = handle.read() or None
        except ValueError:
            logger.debug("No stored user dictionary for %s", resource.name)
        return cls(config, model_storage, resource, dictionary_text)

    def train(self, training_data: TrainingData) -> Resource:
        """Persists the user dictionary so the trained model does not need the file."""
        with self._model_storage.write_to(self._resource) as directory:
            with open(
                os.path.join(str(directory), _STORED_DICTIONARY), "w", encoding="utf-8"
            ) as handle:
                handle.write(self.dictionary_text or "")
        return self._resource

    def tokenize_text(self, text: str) -> list[Token]:
        """Tokenizes a raw string.

        Args:
            text: The text.

        Returns:
            Tokens whose ``start``/``end`` index ``text`` and whose ``text`` is
            ``text[start:end]``.
        """
        tokens: list[Token] = []
        simplified = to_simplified(text)
        for match in _TOKEN_RE.finditer(text):
            start, end = match.span()
            if match.lastgroup != "han":
                tokens.append(Token(text[start:end], start, end))
                continue
            for _word, offset, word_end in self._jieba.tokenize(
                simplified[start:end], HMM=self._hmm
            ):
                tokens.append(Token(text[start + offset : start + word_end], start + offset))
        return tokens

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Tokenizes the text of the given attribute of a message."""
        text = message.get(attribute) or ""
        return self._apply_token_pattern(self.tokenize_text(text))
