"""The travel assistant answers from its knowledge base, deterministically, with follow-ups."""

from __future__ import annotations

import pytest

from sessionhub.demo.assistant import COSTS_PROMPT, MORE_PROMPT, best_topic, respond, welcome
from sessionhub.demo.knowledge import INDUSTRIES, MONTHS, TOPICS


def test_the_knowledge_base_is_complete_and_consistent() -> None:
    assert 20 <= len(TOPICS) <= 40
    for key, topic in TOPICS.items():
        assert topic.key == key
        assert topic.answer
        assert topic.details
        assert topic.keywords
        assert all(related in TOPICS and related != key for related in topic.related), key
    for industry in INDUSTRIES.values():
        assert all(key in TOPICS for key in industry.suggestions)


@pytest.mark.parametrize("key", list(TOPICS))
def test_every_suggested_question_is_answered_by_its_own_topic(key: str) -> None:
    topic = TOPICS[key]
    assert best_topic(topic.prompt) is topic
    reply = respond(topic.prompt)
    assert (reply.topic, reply.text) == (key, topic.answer)


@pytest.mark.parametrize(
    ("question", "key"),
    [
        ("pyramids?", "giza"),
        ("Tell me about the SPHINX", "giza"),
        ("tombs in the valley of the kings", "valley_of_the_kings"),
        ("Is the Blue Hole dangerous?", "dahab"),
        ("Do I need an e-visa?", "visa"),
        ("Can I pay by card or should I bring cash?", "currency"),
        ("What's koshari?", "food"),
        ("What to wear in a mosque?", "dress_code"),
        ("Where can I see Tutankhamun's mask?", "cairo_museums"),
        ("Hot air balloon at sunrise", "balloon"),
        ("Is the Thistlegorm wreck a good dive?", "red_sea_diving"),
        ("Qaitbay citadel in Alexandria", "alexandria"),
        ("Is it hot?", "weather"),
        ("Sleeper train from Cairo to Aswan", "transport"),
        ("Ça va? Saqqara?", "saqqara"),
        ("The best beaches?", "hurghada"),
        ("Where should I go?", "itinerary"),
    ],
)
def test_questions_find_their_topic(question: str, key: str) -> None:
    assert respond(question).topic == key


def test_a_month_gives_that_months_weather() -> None:
    reply = respond("What's the weather like in August?")
    assert reply.topic == "weather"
    assert "August" in reply.text
    assert "41 °C in Luxor" in reply.text
    assert respond("Diving in aug?").text.startswith(TOPICS["red_sea_diving"].answer)
    assert "August" in respond("Diving in aug?").text


def test_may_is_a_month_only_when_it_reads_like_one() -> None:
    assert "May" in respond("weather in may").text
    assert respond("May I ask about the weather?").text == TOPICS["weather"].answer


def test_every_month_has_its_climate() -> None:
    for month in MONTHS:
        assert month.capitalize() in respond(f"weather in {month}").text


def test_tell_me_more_follows_up_on_the_last_topic() -> None:
    first = respond("How do I get to Abu Simbel?")
    assert MORE_PROMPT in first.suggestions

    more = respond(MORE_PROMPT, history=["How do I get to Abu Simbel?"])

    assert (more.topic, more.text) == ("abu_simbel", TOPICS["abu_simbel"].details)
    assert MORE_PROMPT not in more.suggestions


def test_price_questions_follow_up_with_ticket_notes() -> None:
    history = ["hello", "Which tombs should I see in the Valley of the Kings?", "thanks"]
    reply = respond(COSTS_PROMPT, history=history)
    assert (reply.topic, reply.text) == ("valley_of_the_kings", TOPICS["valley_of_the_kings"].costs)
    assert respond("How much is Karnak?").text == TOPICS["karnak"].costs


def test_price_questions_about_topics_without_tickets_get_the_answer() -> None:
    assert respond("how much should I tip?").text == TOPICS["tipping"].answer


def test_a_new_topic_in_a_follow_up_wins_over_the_context() -> None:
    reply = respond("tell me more about Siwa", history=["What about Luxor?"])
    assert (reply.topic, reply.text) == ("siwa", TOPICS["siwa"].answer)


def test_small_talk_and_unknown_questions() -> None:
    assert respond("Hello there").text.startswith("Ahlan")
    assert respond("thanks!").text.startswith("Afwan")
    assert respond("ok bye").text.startswith("Ma'a salama")
    assert "Siwa Oasis" in respond("help").text
    unknown = respond("What is the capital of Peru?", industry="diving")
    assert unknown.topic is None
    assert unknown.suggestions == tuple(TOPICS[key].prompt for key in INDUSTRIES["diving"].suggestions)
    assert respond("   ").topic is None
    assert respond("tell me more").topic is None


def test_welcome_depends_on_the_industry_and_unknown_ones_fall_back() -> None:
    assert "concierge" in welcome("hotel").text
    assert welcome("no-such-industry") == welcome("tour-operator")


def test_answers_are_deterministic() -> None:
    questions = ["pyramids", "weather in march", "how much", "tell me more", "visa"]
    first = [respond(q, history=questions[:i]) for i, q in enumerate(questions)]
    again = [respond(q, history=questions[:i]) for i, q in enumerate(questions)]
    assert first == again
