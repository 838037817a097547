"""The demo's Egypt travel assistant: answers from the knowledge base by keyword and intent, deterministically.

A question is normalised to words (lowercase, accents and apostrophes dropped, a plural "s" trimmed), then scored
against each topic's keywords: a keyword phrase that appears scores its number of words, so "valley of the kings"
beats "tomb". Small intents come first (greetings, thanks, help), then a month (the weather that month), then the
best topic, answered in full, or with its ticket notes for a price question, or with more detail when the visitor
asks for more about what they were just talking about. Follow-ups with no topic of their own ("tell me more", "how
much is it?") refer to the topic of the visitor's latest earlier question that had one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sessionhub.demo.knowledge import (
    DEFAULT_INDUSTRY,
    INDUSTRIES,
    MONTHLY_CLIMATE,
    MONTHS,
    TOPICS,
    Industry,
    Topic,
)

MORE_PROMPT = "Tell me more"
COSTS_PROMPT = "How much are the tickets?"
MAX_SUGGESTIONS = 4

_GREETINGS = frozenset(
    ("hi", "hello", "hey", "there", "salam", "salaam", "aleikum", "alaikum", "ahlan", "marhaba", "good", "morning",
     "afternoon", "evening")
)  # fmt: skip
_THANKS = frozenset(("thanks", "thank", "you", "shukran", "great", "ok", "okay", "cool", "perfect", "nice", "lovely"))
_GOODBYES = frozenset(("bye", "goodbye", "maa", "salama", "see", "you", "later"))
_HELP = ("help", "what can you do", "what do you know", "topic", "menu")
_MORE = ("more", "detail", "tell me more", "what else", "go on", "and then", "anything else")
_COSTS = ("cost", "price", "ticket", "fee", "how much", "expensive", "cheap", "entrance")
_MONTH_ABBREVIATIONS = {name[:3]: index for index, name in enumerate(MONTHS)} | {"sept": 8}
_MAY_CONTEXT = frozenset(("in", "during", "for", "early", "late", "mid", "of"))


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    topic: str | None
    """The key of the topic answered, if any."""
    suggestions: tuple[str, ...]
    """Questions to offer next."""


def _words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    plain = plain.replace("'", "").replace("\u2019", "")
    return [_stem(word) for word in re.findall(r"[a-z0-9]+", plain)]


def _stem(word: str) -> str:
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _phrases(keywords: Sequence[str]) -> list[tuple[str, ...]]:
    return list(dict.fromkeys(tuple(_words(keyword)) for keyword in keywords))


_TOPIC_PHRASES = {key: _phrases(topic.keywords) for key, topic in TOPICS.items()}
_MORE_PHRASES = _phrases(_MORE)
_COSTS_PHRASES = _phrases(_COSTS)
_HELP_PHRASES = _phrases(_HELP)


def _occurs(phrase: tuple[str, ...], words: list[str]) -> bool:
    size = len(phrase)
    return any(tuple(words[start : start + size]) == phrase for start in range(len(words) - size + 1))


def _mentions(phrases: list[tuple[str, ...]], words: list[str]) -> bool:
    return any(_occurs(phrase, words) for phrase in phrases)


def best_topic(text: str) -> Topic | None:
    """The topic a question is most about (ties go to the earlier topic), or None when no keyword appears."""
    words = _words(text)
    best, best_score = None, 0
    for key, phrases in _TOPIC_PHRASES.items():
        score = sum(len(phrase) for phrase in phrases if _occurs(phrase, words))
        if score > best_score:
            best, best_score = TOPICS[key], score
    return best


def _month(words: list[str]) -> int | None:
    for position, word in enumerate(words):
        if word in MONTHS:
            if word != "may" or (position > 0 and words[position - 1] in _MAY_CONTEXT) or len(words) == 1:
                return MONTHS.index(word)
        elif word in _MONTH_ABBREVIATIONS and word != "may":
            return _MONTH_ABBREVIATIONS[word]
    return None


def month_weather(month: int) -> str:
    cairo, luxor, hurghada, sea, note = MONTHLY_CLIMATE[month]
    return (
        f"In {MONTHS[month].capitalize()}, daytime highs are around {cairo} °C in Cairo, {luxor} °C in Luxor and "
        f"{hurghada} °C in Hurghada, and the Red Sea is about {sea} °C: {note}"
    )


def industry_of(key: str | None) -> Industry:
    return INDUSTRIES.get(key or "", INDUSTRIES[DEFAULT_INDUSTRY])


def welcome(industry_key: str | None) -> Reply:
    industry = industry_of(industry_key)
    return Reply(
        text=f"Hello, I am {industry.assistant}. {industry.welcome}",
        topic=None,
        suggestions=_industry_suggestions(industry),
    )


def respond(question: str, *, history: Sequence[str] = (), industry: str | None = None) -> Reply:
    """Answer `question`; `history` holds the visitor's earlier questions, oldest first, for follow-ups."""
    words = _words(question)
    topic = best_topic(question)
    if topic is None:
        intent = _small_talk(words, industry_of(industry))
        if intent is not None:
            return intent
    month = _month(words)
    if month is not None and (topic is None or topic.key in ("weather", "best_time")):
        return Reply(month_weather(month), "weather", _topic_suggestions(TOPICS["weather"], shown="answer"))

    previous = _context_topic(history)
    asks_costs = _mentions(_COSTS_PHRASES, words)
    asks_more = _mentions(_MORE_PHRASES, words)
    subject = topic or (previous if asks_costs or asks_more else None)
    if subject is None:
        return _not_understood(industry_of(industry))
    if asks_costs and subject.costs:
        return Reply(subject.costs, subject.key, _topic_suggestions(subject, shown="costs"))
    if asks_more and subject is previous:
        return Reply(subject.details, subject.key, _topic_suggestions(subject, shown="details"))
    text = subject.answer
    if month is not None:
        text += "\n\n" + month_weather(month)
    return Reply(text, subject.key, _topic_suggestions(subject, shown="answer"))


def _context_topic(history: Sequence[str]) -> Topic | None:
    for earlier in reversed(history):
        topic = best_topic(earlier)
        if topic is not None:
            return topic
    return None


def _small_talk(words: list[str], industry: Industry) -> Reply | None:
    if not words:
        return Reply("Ask me anything about travelling in Egypt.", None, _industry_suggestions(industry))
    unique = set(words)
    if unique <= _GREETINGS:
        return Reply(
            f"Ahlan! I am {industry.assistant}. What would you like to know about Egypt?",
            None,
            _industry_suggestions(industry),
        )
    if unique <= _THANKS:
        return Reply("Afwan, you are welcome! Anything else about your trip?", None, _industry_suggestions(industry))
    if unique <= _GOODBYES | _THANKS:
        return Reply("Ma'a salama, and have a wonderful trip!", None, ())
    if _mentions(_HELP_PHRASES, words):
        titles = ", ".join(topic.title for topic in TOPICS.values())
        return Reply(f"I can tell you about: {titles}.", None, _industry_suggestions(industry))
    return None


def _not_understood(industry: Industry) -> Reply:
    return Reply(
        "I am not sure I understood. I know Egypt's sights, cruises and diving, and practical matters such as "
        "visas, money, weather by month, safety and dress code. Try one of these:",
        None,
        _industry_suggestions(industry),
    )


def _topic_suggestions(topic: Topic, *, shown: str) -> tuple[str, ...]:
    offers = []
    if shown != "details":
        offers.append(MORE_PROMPT)
    if topic.costs and shown != "costs":
        offers.append(COSTS_PROMPT)
    offers += [TOPICS[key].prompt for key in topic.related]
    return tuple(offers[:MAX_SUGGESTIONS])


def _industry_suggestions(industry: Industry) -> tuple[str, ...]:
    return tuple(TOPICS[key].prompt for key in industry.suggestions)
