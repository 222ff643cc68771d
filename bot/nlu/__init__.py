"""Custom Rasa 3.6 NLU components: bilingual tokenizer, language detector, classifier, entities."""
